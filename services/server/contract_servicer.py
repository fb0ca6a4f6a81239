"""ContractService: contracts to producers and consumers, row verdicts, diffs."""

from __future__ import annotations

import logging

import grpc
import pyarrow as pa

from featurestore.services.contracts import (
    Contract,
    ContractRegistry,
    check_arrow_schema,
    summarize,
    table_reasons,
)
from featurestore.services.contracts.compat import check_version_bump, compare
from featurestore.services.contracts.errors import (
    ContractError,
    ContractNameError,
    ContractNotFoundError,
)
from featurestore.services.server.arrow_ipc import read_ipc
from featurestore.services.server.errors import FailedPreconditionError, RequestError
from featurestore.services.server.paging import page
from featurestore.v1 import contract_service_pb2 as pb
from featurestore.v1 import contract_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class ContractServicer(pb_grpc.ContractServiceServicer):  # type: ignore[misc]
    """Reads contracts from the repository's contract folder on every call."""

    def __init__(self, registry: ContractRegistry) -> None:
        self.registry = registry

    def _message(self, name: str, version: str | None) -> pb.Contract:
        contract = self.registry.get(name, version or None)
        message = pb.Contract(
            name=contract.name,
            version=str(contract.version),
            owner=contract.owner,
            description=contract.description,
            yaml=self.registry.raw(contract.name, str(contract.version)),
        )
        _fill_monitoring(message, contract)
        return message

    def _listed(self, name: str) -> pb.Contract:
        """``_message`` for a name the server's folder gave, not the caller: a
        folder that is no valid contract name is the server's fault."""
        try:
            return self._message(name, None)
        except ContractNameError as exc:
            shown = _printable(name)
            raise FailedPreconditionError(
                f"contract folder {shown!r} is not a valid contract name (1-128 "
                "characters of [A-Za-z0-9_.-]): rename it on the server, or list "
                "with return_partial_success to skip it",
                reason=exc.reason.value,
                subject=shown,
                contract=shown,
            ) from exc

    def ListContracts(
        self, request: pb.ListContractsRequest, context: grpc.ServicerContext
    ) -> pb.ListContractsResponse:
        """Latest version of each contract, by name; with return_partial_success,
        the names of those that cannot be read in ``unreachable`` (AIP-217)."""
        names = self.registry.names()
        chosen, token = page(
            names, request.page_size, request.page_token, "ListContracts"
        )
        if not request.return_partial_success:
            # As before the field: the first unreadable contract fails the call.
            return pb.ListContractsResponse(
                contracts=[self._listed(name) for name in chosen],
                next_page_token=token,
            )
        response = pb.ListContractsResponse(next_page_token=token)
        for name in chosen:
            try:
                response.contracts.append(self._message(name, None))
            except ContractNotFoundError:
                continue  # removed since names() saw it: not there, not broken
            except ContractError as exc:
                # The client gets the name only (GetContract tells why); the
                # log gets the reason and the file relative to the root.
                log.warning(
                    "ListContracts: contract %r unreachable: %s: %s",
                    name,
                    exc.reason.value,
                    exc,
                )
                response.unreachable.append(_printable(name))
        return response

    def GetContract(
        self, request: pb.GetContractRequest, context: grpc.ServicerContext
    ) -> pb.GetContractResponse:
        """One contract version, verbatim."""
        if not request.name:
            raise RequestError("name", "name is required")
        return pb.GetContractResponse(
            contract=self._message(request.name, request.version)
        )

    def ValidateRows(
        self, request: pb.ValidateRowsRequest, context: grpc.ServicerContext
    ) -> pb.ValidateRowsResponse:
        """Judge each row as the Spark jobs do (same function, same contract)."""
        if not request.contract:
            raise RequestError("contract", "contract is required")
        contract = self.registry.get(request.contract, request.version or None)
        table = read_ipc(request.arrow_ipc, "arrow_ipc")
        if table.num_rows == 0:
            raise RequestError(
                "arrow_ipc", "the batch has no rows", reason="EMPTY_BATCH"
            )
        check_arrow_schema(contract, _without_extra_columns(contract, table).schema)
        reasons = table_reasons(contract, table)
        summary = summarize(reasons)
        verdicts = [
            pb.RowVerdict(
                row=i,
                passed=not row,
                reasons=[
                    pb.RowReason(column=r["column"], check=r["check"]) for r in row
                ],
            )
            for i, row in enumerate(reasons.to_pylist())
        ]
        return pb.ValidateRowsResponse(
            verdicts=verdicts,
            rows=summary.rows,
            failed_rows=summary.failed,
            failures_by_reason=summary.counts,
            publishable=summary.publishable(contract),
        )

    def CheckCompatibility(
        self, request: pb.CheckCompatibilityRequest, context: grpc.ServicerContext
    ) -> pb.CheckCompatibilityResponse:
        """Classify every change between two versions."""
        missing = [f for f in ("name", "old_version") if not getattr(request, f)]
        if missing:
            # BadRequest names the first; the message names every one missing.
            raise RequestError(
                missing[0],
                f"{' and '.join(missing)} required: the contract's name and the "
                "version to compare from (new_version defaults to the latest)",
            )
        old = self.registry.get(request.name, request.old_version)
        new = self.registry.get(request.name, request.new_version or None)
        changes = compare(old, new)
        problems = check_version_bump(old, new, changes)
        return pb.CheckCompatibilityResponse(
            changes=[
                pb.ContractChange(
                    kind=c.kind.value,
                    breaking=c.breaking,
                    column=c.column,
                    detail=c.detail,
                )
                for c in changes
            ],
            version_bump_ok=not problems,
            problems=[str(p) for p in problems],
        )


def _printable(name: str) -> str:
    # A folder name that is not UTF-8 (surrogate-escaped by os.listdir) cannot
    # go into a proto string as it is.
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _fill_monitoring(message: pb.Contract, contract: Contract) -> None:
    """Set the resolved freshness SLA and drift settings on ``message``."""
    sla = contract.freshness_sla
    message.freshness_sla.max_age.FromTimedelta(sla.max_age)
    message.freshness_sla.event_time_column = sla.event_time
    if sla.frequency is not None:
        message.freshness_sla.frequency.FromTimedelta(sla.frequency)
    baseline = contract.drift_block.baseline
    if baseline is not None and baseline.version is not None:
        message.drift.baseline_version = baseline.version
    elif baseline is not None and baseline.training_set is not None:
        message.drift.baseline_training_set = baseline.training_set
    for setting in contract.drift.values():
        message.drift.columns.add(**setting.to_json_obj())


def _without_extra_columns(contract: object, table: pa.Table) -> pa.Table:
    # Clients may send wider rows (ids, labels); only the contract's columns are
    # judged, as row_reasons documents.
    names = [c.name for c in contract.columns]  # type: ignore[attr-defined]
    return table.select([n for n in names if n in table.column_names])
