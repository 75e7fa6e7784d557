"""Default policy rules of the timing service: the node's clock is the operator's."""

POLICIES = {
    "timing:ptp:read": "rule:admin_required",
    "timing:ptp:update": "rule:admin_required",
}
