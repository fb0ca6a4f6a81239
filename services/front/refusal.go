package main

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// refusedMetadataCode is the method byte of a refusal frame
// (services/server/ipc.py REFUSED_METADATA): not a method, the front's report
// of a call it refused for metadata over maxMetadataBytes.
const refusedMetadataCode byte = 255

// maxRequestIDBytes is as much of a caller's x-request-id as the audit keeps.
const maxRequestIDBytes = 128

// refuseOversized answers a call (any method, online read or proxied) whose
// metadata is over maxMetadataBytes. Every call is audited, and the audit is
// written by the Python processes only (one writer, one file and its
// rotation lock), so the front hands the refusal to one of them over its
// private Unix socket: the method and the size in the body, and of the
// metadata only the caller's authorization and x-request-id (clipped). The
// process authenticates the caller, audits the call and answers as a direct
// call would: RESOURCE_EXHAUSTED naming the size, or UNAUTHENTICATED without
// valid credentials. With no process answering, the front answers
// RESOURCE_EXHAUSTED itself and logs the call as not audited.
func (p *workerPool) refuseOversized(ctx context.Context, method string, md metadata.MD) error {
	size := headerListBytes(md)
	kept := metadata.MD{}
	if id := md.Get("x-request-id"); len(id) > 0 {
		kept.Set("x-request-id", clip(id[len(id)-1], maxRequestIDBytes))
	}
	if auth := md.Get("authorization"); len(auth) > 0 {
		kept.Set("authorization", auth[len(auth)-1]) // the last, as the server reads it
	}
	block, err := encodeMetadata(kept)
	if err != nil { // the credentials alone are over the bound: sent without
		kept.Delete("authorization")
		block, _ = encodeMetadata(kept)
	}
	body := []byte(fmt.Sprintf("%d %s", size, method))
	_, err = p.call(ctx, refusedMetadataCode, block, body)
	switch status.Code(err) {
	case codes.ResourceExhausted, codes.Unauthenticated:
		return err
	}
	log.Printf("fs-front: %s refused (metadata of %d bytes) with no audit line: "+
		"no server process took the refusal: %v", method, size, err)
	return checkMetadataSize(md)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
