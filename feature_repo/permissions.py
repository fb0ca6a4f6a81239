"""Who may do what, as Feast permissions; enforced by our server when auth is on.

With ``auth: none`` (loopback development) nothing is enforced, as with Feast's
``no_auth``. Once any permission exists, everything not granted is denied.
Roles come from the API key file or the OIDC token's ``roles`` claim.
"""

from feast.feature_service import FeatureService
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy
from feast.project import Project

CATALOGUE = [Project, FeatureView, FeatureService]

describe_permission = Permission(
    name="describe",
    types=CATALOGUE,
    actions=[AuthzedAction.DESCRIBE],
    policy=RoleBasedPolicy(roles=["reader", "trainer", "admin"]),
)
online_reader_permission = Permission(
    name="online-reader",
    types=[FeatureView],
    actions=[AuthzedAction.READ_ONLINE],
    policy=RoleBasedPolicy(roles=["reader", "admin"]),
)
trainer_permission = Permission(
    name="trainer",
    types=[FeatureView],
    actions=[AuthzedAction.READ_OFFLINE],
    policy=RoleBasedPolicy(roles=["trainer", "admin"]),
)
auditor_permission = Permission(
    name="auditor",
    types=[Project],
    actions=[AuthzedAction.DESCRIBE],
    policy=RoleBasedPolicy(roles=["auditor"]),
)
"""Contracts, lineage and quality summaries (DESCRIBE on the project), but no
feature view: not their schemas, freshness or drift."""
