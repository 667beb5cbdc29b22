"""schemathesis hooks of scripts/fuzz.sh (SCHEMATHESIS_HOOKS=schemathesis_hooks)."""

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    # `cargo lambda watch` answers a body that is not UTF-8 with its own 500 before invoking the
    # function (API Gateway hands such a body over, base64-encoded). Send the same bytes read as
    # Latin-1 instead: still not JSON, so the function's own refusal is what gets tested. That
    # refusal of the raw bytes is tests/tests/fast_handlers.rs's
    # `fuzzing_a_body_that_is_not_utf8_is_a_400_not_a_500`.
    body = case.body
    if isinstance(body, bytes):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            case.body = body.decode("latin-1").encode("utf-8")
