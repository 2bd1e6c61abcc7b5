"""One error catalogue: every error class carries its HTTP status and exit code, the API's and
the CLI's tables and the HTTP client's inverse map are derived from them, and docs/errors.md
lists every stable code the product raises, once, and no other."""

import re
from pathlib import Path

import pytest

import api.errors
import cli.client
import cli.errors
import ledger.monitor
from ledger.errors import ConfigurationError, LedgerError, MalformedError, StorageError
from registry.errors import (
    ERRORS,
    SHARED_STATUS,
    OverloadedError,
    RateLimitedError,
    TooLargeError,
    UnavailableError,
    UnsupportedMediaError,
)

# A status the client maps back to the class of that status (a 5xx is the server failing).
CLIENT_SIDE = 500

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("ledger", "registry", "api", "cli")
DOCS = ROOT / "docs" / "errors.md"

# How product code names a stable code: an error's `code="..."`, a class's `default_code`, a
# rejection Problem `("code", reason)` (registry/admission/rules.py), and the codes the API's
# own handlers and the HTTP client give to errors that are not LedgerErrors.
CODE_FORMS = (
    re.compile(r'\bcode=\s*"([A-Za-z0-9_.]+)"'),
    re.compile(r'\bdefault_code(?:: ClassVar\[str\])? = "([a-z_]+)"'),
    re.compile(r'return \(?\s*"([a-z_]+)",'),
    re.compile(r'error_response\(\d+, "([a-z_]+)"'),
    re.compile(r'\b\d{3}: "([a-z_]+)"'),
    re.compile(r'status_code, "([a-z_]+)"\)'),
    re.compile(r'code, message = "([a-z_]+)"'),
)


def _error_classes() -> list[type[LedgerError]]:
    """LedgerError and every subclass the product defines (ledger.monitor's ForkAlarm too)."""
    assert ledger.monitor  # imported for its ForkAlarm
    found: list[type[LedgerError]] = [LedgerError]
    for error in found:
        found.extend(error.__subclasses__())
    return [error for error in found if error.__module__.split(".")[0] in PRODUCT]


def _raised_codes() -> set[str]:
    codes = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for form in CODE_FORMS:
                codes.update(form.findall(text))
    return codes


def _documented_rows() -> list[list[str]]:
    """The rows of docs/errors.md's code table: code, meaning, class, status, exit."""
    text = DOCS.read_text()
    table = text[text.index("| code | meaning |") :]
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:] if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows]


def test_every_class_carries_its_status_and_exit_code() -> None:
    for error in _error_classes():
        assert isinstance(error.http_status, int) and 400 <= error.http_status < 600, error
        exits = (cli.errors.EXIT_FAILED, cli.errors.EXIT_BAD_INPUT, cli.errors.EXIT_UNAVAILABLE)
        assert error.exit_code in exits, error


def test_the_mapping() -> None:
    """The statuses and exit codes of each class: as they were before the catalogue, but a busy
    server (429, 503 overloaded) and one that cannot answer exit 3 (issue 17)."""
    expected = {
        "MalformedError": (400, 2),
        "NotAuthorizedError": (401, 2),
        "NotFoundError": (404, 1),
        "ConflictError": (409, 2),
        "TooLargeError": (413, 2),
        "UnsupportedMediaError": (415, 2),
        "VerificationError": (422, 1),
        "RateLimitedError": (429, 3),
        "StorageError": (500, 1),
        "ConfigurationError": (503, 2),
        "OverloadedError": (503, 3),  # told apart from ConfigurationError by its code
        "UnavailableError": (502, 3),
    }
    assert {e.__name__: (e.http_status, e.exit_code) for e in ERRORS} == expected
    assert (LedgerError.http_status, LedgerError.exit_code) == (500, 1)
    assert issubclass(TooLargeError, MalformedError)
    assert issubclass(UnsupportedMediaError, MalformedError)


def test_the_three_tables_agree() -> None:
    inverse = cli.client._ERROR_BY_STATUS
    client_side = [e for e in ERRORS if e not in SHARED_STATUS and e.http_status < CLIENT_SIDE]
    assert len(inverse) == len(client_side), "two classes share an HTTP status"
    assert set(SHARED_STATUS) <= set(ERRORS)
    for error in ERRORS:
        assert api.errors.STATUS_BY_ERROR[error] == error.http_status
        assert cli.errors.EXIT_CODE_BY_ERROR[error] == error.exit_code
        back = cli.client.error_class_for(error.http_status, error.default_code)
        if error in SHARED_STATUS or error.http_status < CLIENT_SIDE:
            assert back is error
        else:  # the server failed, whatever failed in it: "try again later or elsewhere"
            assert back is UnavailableError
    for error in _error_classes():
        instance = error.__new__(error)
        assert api.errors.status_for(instance) == error.http_status
        assert cli.errors.exit_code_for(instance) == error.exit_code
        if error.http_status < CLIENT_SIDE:  # a subclass (ForkAlarm): its base class's status
            assert inverse[error.http_status].exit_code == error.exit_code, error


def _raised_by_client(status: int, code: str, body: object = None) -> LedgerError:
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        content = {"error": {"type": code, "message": "refused"}} if body is None else body
        return httpx.Response(status, json=content, headers={"Retry-After": "1"})

    http = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://log.test")
    client = cli.client.HttpClient("http://log.test", http=http, sleep=lambda _s: None, retries=0)
    with pytest.raises(LedgerError) as caught:
        client.device("d")
    return caught.value


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: error.__name__)
def test_the_client_raises_the_class_of_each_status(error: type[LedgerError]) -> None:
    code = error.default_code if error in SHARED_STATUS else "some_code"

    raised = _raised_by_client(error.http_status, code)

    expected = error if error in SHARED_STATUS or error.http_status < CLIENT_SIDE else None
    assert type(raised) is (expected or UnavailableError)
    assert raised.code == code  # the server's own code, for scripts
    if error is RateLimitedError or error is OverloadedError:
        assert isinstance(raised, RateLimitedError | OverloadedError)
        assert raised.retry_after_s == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 418])
def test_a_server_failing_is_exit_3_with_its_code(status: int) -> None:
    raised = _raised_by_client(status, "storage_error")

    assert type(raised) is UnavailableError and raised.exit_code == 3
    assert raised.code == "storage_error"
    assert "try again later" in str(raised) and "http://log.test" in str(raised)


def test_an_answer_not_in_the_api_s_error_shape_is_not_a_server() -> None:
    raised = _raised_by_client(404, "", body=["not", "an", "error"])

    assert type(raised) is UnavailableError and raised.code == "not_a_server"


def test_a_503_is_overloaded_by_its_code_and_otherwise_the_server_failing() -> None:
    assert cli.client.error_class_for(503, "overloaded") is OverloadedError
    assert cli.client.error_class_for(503, "not_configured") is UnavailableError
    assert cli.client.error_class_for(503, "no_log_key") is UnavailableError
    assert cli.client.error_class_for(599, "overloaded") is UnavailableError
    assert cli.client.error_class_for(404, "x") is not StorageError
    assert ConfigurationError.exit_code == 2  # a configuration of the user's own


def test_docs_list_every_raised_code_once_and_no_other() -> None:
    rows = _documented_rows()
    documented = [row[0].strip("`") for row in rows]
    duplicated = {code for code in documented if documented.count(code) > 1}
    assert not duplicated, f"listed twice in docs/errors.md: {sorted(duplicated)}"
    raised = _raised_codes()
    assert raised - set(documented) == set(), "raised but not in docs/errors.md"
    assert set(documented) - raised == set(), "in docs/errors.md but never raised"


def test_docs_give_each_class_its_status_and_exit_code() -> None:
    by_name = {error.__name__: error for error in _error_classes()}
    text = DOCS.read_text()
    for error in ERRORS + (LedgerError,):
        row = f"| `{error.__name__}` | {error.__module__.split('.')[0]} | {error.http_status} | "
        assert f"{row}{error.exit_code} | `{error.default_code}` |" in text, error
    for code, _meaning, classes, statuses, exits in _documented_rows():
        for name in re.findall(r"`(\w+)`", classes):
            error = by_name[name]
            assert str(error.http_status) in statuses.split("; "), (code, name)
            assert str(error.exit_code) in exits.split("; "), (code, name)


def test_readme_points_to_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/errors.md" in readme


def test_readme_and_docs_hold_one_exit_code_table() -> None:
    def exit_rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if re.match(r"\| [0-9] \| ", line)]

    readme = exit_rows((ROOT / "README.md").read_text())
    assert readme and readme == exit_rows(DOCS.read_text())
    assert [int(row[2]) for row in readme] == [
        cli.errors.EXIT_OK,
        cli.errors.EXIT_FAILED,
        cli.errors.EXIT_BAD_INPUT,
        cli.errors.EXIT_UNAVAILABLE,
        cli.errors.EXIT_CAUTION,
    ]


def test_docs_name_each_family_of_built_codes() -> None:
    """Codes built from a name (`code=f"bad_{name}"`) are documented as one family each."""
    prefixes = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            prefixes.update(re.findall(r'\bcode=f"([a-z_]+)\{', path.read_text()))
    assert prefixes == {"bad_"}
    assert "`bad_<field>`" in DOCS.read_text()
