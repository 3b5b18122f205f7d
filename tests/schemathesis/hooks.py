"""Schemathesis hooks for the fuzzing test in tests/api/fuzz.rs.

One check of our own: a refused request changes nothing. Around every call the fuzzer
makes (its own and those its checks make), the journal's head is read; when the answer
is a 4xx and the head moved, the records written meanwhile must all be the engine's own
(a step finishing after an earlier, accepted command), never an operator's. The fuzzer
runs with one worker, so nothing else writes in between.

And the refusals that are not the API's fault, each excused narrowly:
- a "schema-valid" body that the document's own schema refutes: the fuzzer's coverage
  phase draws any string for `type: [string, null]` with a `format` (since="" for a
  date-time), and the server rightly refuses it.
- 422 for a well-formed request the engine refuses as it stands (an option the task does
  not offer, a workflow file with problems, a time out of range): rules no schema can
  state. A 422 about the body's shape ("request body: ...") is not excused.
- 422 for an integer written with a fraction (`2.0`): JSON Schema counts it as an integer,
  serde does not; the document says to write integers without one.
"""

import json
import os
import re
import urllib.request

import jsonschema_rs
import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

URL = os.environ["TEMPI_FUZZ_URL"]
TOKEN = os.environ["TEMPI_FUZZ_TOKEN"]
LOG = os.environ["TEMPI_FUZZ_LOG"]

# The journal's head before the call in flight.
before = {"head": None}
# Refusals that changed something, by case id, for the check to report.
changed = {}


def get(path):
    req = urllib.request.Request(URL + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def head():
    return get("/api/metrics")["journal_seq"]


@schemathesis.hook
def before_call(context, case, kwargs):
    before["head"] = head()


@schemathesis.hook
def after_call(context, case, response):
    if not 400 <= response.status_code < 500:
        return
    was = before["head"]
    if was is None or head() == was:
        return
    records = get(f"/api/audit?after={was}&limit=100")
    theirs = [r for r in records if r.get("actor") != "engine"]
    if theirs:
        line = {
            "status": response.status_code,
            "method": case.method,
            "path": case.formatted_path,
            "records": theirs,
        }
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        changed[case.id] = line


@schemathesis.check
def refused_changes_nothing(ctx, response, case):
    line = changed.pop(case.id, None)
    if line is not None:
        raise AssertionError(
            f"a {line['status']} answer, yet the journal took {len(line['records'])} "
            f"record(s): {json.dumps(line['records'])[:500]}"
        )


def message_of(response):
    try:
        return json.loads(response.content).get("message", "")
    except (ValueError, AttributeError):
        return ""


def refuted_by_schema(case):
    """Whether the case's JSON body fails the schema the document gives it."""
    body = getattr(case, "body", None)
    if not isinstance(body, (dict, list, str, int, float, bool)) and body is not None:
        return False
    doc = document()
    operation = doc["paths"].get(case.operation.path, {}).get(case.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return False
    schema = {**content["schema"], "components": doc["components"]}
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    return not validator.is_valid(body)


def document(cache={}):
    if "doc" not in cache:
        cache["doc"] = get("/api/openapi.json")
    return cache["doc"]


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure but the refusals excused above (`TEMPI_FUZZ_EXCUSED=FILE`
    lists those, to see what they were)."""
    keep = kept(failure, case, response)
    excused = os.environ.get("TEMPI_FUZZ_EXCUSED")
    if not keep and excused:
        with open(excused, "a", encoding="utf-8") as f:
            line = [case.method, case.formatted_path, response.status_code, message_of(response)]
            f.write(json.dumps(line) + "\n")
    return keep


def kept(failure, case, response):
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    if refuted_by_schema(case):
        return False
    message = message_of(response)
    if not message.startswith("request body:"):
        return False
    return WHOLE_FLOAT.search(message) is None


# serde's words for a whole number written with a fraction where an integer belongs.
# (Past 1e16 it writes an exponent, and every such float is whole.)
WHOLE_FLOAT = re.compile(
    r"invalid type: floating point `-?([0-9]+\.0|[0-9.]+e\+?[0-9]+)`, expected [iu][0-9]+"
)
