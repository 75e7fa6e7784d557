"""Hostile bodies on every JSON route of the wizard (issue 12: every JSON API): never a 5xx, refusals in the
wizard's own error format ({"error": {code, title, message}}), and a refused step changes no answer."""
import pytest
from hypothesis import given

from firstboot import steps
from appliance.testing import hostile

STEPS = [s.NAME for s in steps.STEPS if s.NAME != "apply"]  # apply's own POST starts the apply: not fuzzed here


@pytest.mark.parametrize("name", STEPS)
def test_hostile_step_answers_are_refused_and_change_nothing(unlocked, name):
    fields = hostile.fields_of(steps.BY_NAME[name].SCHEMA, None)

    def send(raw):
        return unlocked.client.post(f"/api/steps/{name}", data=raw, content_type="application/json")

    before = unlocked.answers()

    @hostile.FUZZ
    @given(hostile.refused_bodies(None, fields))
    def refused(raw):
        hostile.assert_refused("keystone", send(raw))
        assert unlocked.answers() == before

    @hostile.FUZZ
    @given(hostile.any_bodies(None, fields))
    def anything(raw):
        resp = send(raw)
        assert resp.status_code < 500, resp.data
        if resp.status_code >= 400:
            hostile.assert_refused("keystone", resp)

    refused()
    anything()


@pytest.mark.parametrize("path", ["/api/unlock", "/api/network/confirm"])
def test_hostile_unlock_and_confirm_bodies_are_refused(box, path):
    @hostile.FUZZ
    @given(hostile.refused_bodies(None, ["code", "token"]) | hostile.any_bodies(None, ["code", "token"]))
    def send(raw):
        box.clock.advance(7200)  # past any lockout a run of wrong codes earns
        resp = box.client.post(path, data=raw, content_type="application/json")
        assert resp.status_code < 500, resp.data
        if resp.status_code >= 400:
            hostile.assert_refused("keystone", resp)
    send()
