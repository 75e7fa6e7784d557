"""Application credentials, /v3/credentials and the OS-EC2 extension `openstack ec2 credentials` uses."""
from __future__ import annotations

from flask import request

from appliance import errors
from appliance.routes import Call, Route, RouteTable
from services.identity import schemas
from services.identity.api.common import check, creds, is_admin, target
from services.identity.refusals import not_found
from services.identity.render import collection, render_app_cred, render_credential, render_ec2


# -- application credentials ------------------------------------------------------------------------
def _app_cred(cred, secret=None) -> dict:
    return render_app_cred(cred, creds().role_names(cred), secret)


def create_app_cred(call: Call):
    cred, secret = creds().create_app_cred(call.args["user_id"], call.body["application_credential"], call.context)
    return {"application_credential": _app_cred(cred, secret)}


def list_app_creds(call: Call):
    return creds().list_app_creds(call.args["user_id"], request.args.get("name"))


def get_app_cred(call: Call):
    return creds().get_app_cred(call.args["user_id"], call.args["cred_id"])


def delete_app_cred(call: Call):
    creds().delete_app_cred(call.args["user_id"], call.args["cred_id"])


# -- /v3/credentials ------------------------------------------------------------------------------
def list_credentials(call: Call):
    mine_only = not (is_admin(call) or check(call, "service_role"))
    return creds().list_credentials({f: request.args.get(f) for f in ("user_id", "type")},
                                    call.context.user_id if mine_only else None)


def _owner_of_new(call: Call) -> dict:
    return {"user_id": call.body["credential"]["user_id"]}


def create_credential(call: Call):
    return creds().create_credential(call.body["credential"], is_admin(call))


def _owned(rule: str):
    """The credential the path names as the target; one the caller may not see is missing, so ids do not leak."""
    def load(call: Call) -> dict:
        cred = creds().find_credential(call.args["cred_id"])
        if cred is None or not check(call, rule, {"user_id": cred.user_id}):
            raise not_found("credential", call.args["cred_id"])
        call.resource = cred
        return {"user_id": cred.user_id}
    return load


def get_credential(call: Call):
    return call.resource


def update_credential(call: Call):
    data = call.body["credential"]
    if "user_id" in data and data["user_id"] != call.resource.user_id:
        raise errors.BadRequest("Invalid input for field 'user_id': a credential cannot change owner.")
    return creds().update_credential(call.resource.id, data)


def delete_credential(call: Call):
    creds().delete_credential(call.resource)


# -- OS-EC2 ---------------------------------------------------------------------------------------
def create_ec2(call: Call):
    return creds().create_ec2(call.args["user_id"], call.body["tenant_id"], is_admin(call))


def list_ec2(call: Call):
    return creds().list_ec2(call.args["user_id"])


def get_ec2(call: Call):
    return creds().ec2_by_access(call.args["user_id"], call.args["access"])


def delete_ec2(call: Call):
    creds().delete_ec2(call.args["user_id"], call.args["access"])


def _one(key, render):
    return lambda obj: {key: render(obj)}


def _many(key, render):
    return lambda rows: collection(key, [render(r) for r in rows])


APP_CREDS, APP_CRED = "/v3/users/<user_id>/application_credentials", \
    "/v3/users/<user_id>/application_credentials/<cred_id>"
CRED = "/v3/credentials/<cred_id>"
EC2S, EC2 = "/v3/users/<user_id>/credentials/OS-EC2", "/v3/users/<user_id>/credentials/OS-EC2/<access>"

TABLE = RouteTable("identity_credentials", [
    Route("POST", APP_CREDS, "identity:create_application_credential", create_app_cred, target=target(),
          schema=schemas.create("application_credential", schemas.APP_CRED), render=dict, status=201),
    Route("GET", APP_CREDS, "identity:list_application_credentials", list_app_creds, target=target(),
          render=_many("application_credentials", _app_cred)),
    Route("GET", APP_CRED, "identity:get_application_credential", get_app_cred, target=target(),
          render=_one("application_credential", _app_cred)),
    Route("DELETE", APP_CRED, "identity:delete_application_credential", delete_app_cred, target=target(),
          render=dict, status=204),
    Route("GET", "/v3/credentials", "identity:list_credentials", list_credentials, target=target(),
          render=_many("credentials", render_credential)),
    Route("POST", "/v3/credentials", "identity:create_credential", create_credential, target=target(_owner_of_new),
          schema=schemas.create("credential", schemas.CREDENTIAL, required=("user_id", "type", "blob")),
          render=_one("credential", render_credential), status=201),
    Route("GET", CRED, "identity:get_credential", get_credential, target=target(_owned("identity:get_credential")),
          render=_one("credential", render_credential)),
    Route("PATCH", CRED, "identity:update_credential", update_credential,
          target=target(_owned("identity:update_credential")),
          schema=schemas.update("credential", schemas.CREDENTIAL), render=_one("credential", render_credential)),
    Route("DELETE", CRED, "identity:delete_credential", delete_credential,
          target=target(_owned("identity:delete_credential")), render=dict, status=204),
    Route("POST", EC2S, "identity:ec2_credentials", create_ec2, target=target(), schema=schemas.EC2_CREATE,
          render=_one("credential", render_ec2), status=201),
    Route("GET", EC2S, "identity:ec2_credentials", list_ec2, target=target(), render=_many("credentials", render_ec2)),
    Route("GET", EC2, "identity:ec2_credentials", get_ec2, target=target(), render=_one("credential", render_ec2)),
    Route("DELETE", EC2, "identity:ec2_credentials", delete_ec2, target=target(), render=dict, status=204),
])
