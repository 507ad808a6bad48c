"""The rejection catalogue: every reason a transaction or query is refused, with a stable code.

A rejection reaches the user as `ExecTxResult{code, codespace="egp", log}`. Codes never change meaning
once released (new reasons get new numbers); `log` is a sentence a bank officer understands, built from
the template with the values of the case ("demand of 600,000.00 THB exceeds available 500,000.00 THB").
`docs/errors.md` is generated from `CATALOGUE` (`python -m state.errors > docs/errors.md`) and a test
keeps the two in sync.
"""

from __future__ import annotations

from dataclasses import dataclass

CODESPACE = "egp"


@dataclass(frozen=True)
class ErrorKind:
    code: int
    name: str
    template: str  # str.format template; documents itself with its field names


class TxError(Exception):
    """A rejection: the transaction (or query) is refused with a stable code and a clear sentence."""

    def __init__(self, kind: ErrorKind, /, **values: object) -> None:
        self.kind = kind
        self.values = values
        try:
            message = kind.template.format(**values)
        except (KeyError, IndexError, ValueError):
            message = kind.template
        super().__init__(message)

    @property
    def code(self) -> int:
        return self.kind.code

    @property
    def log(self) -> str:
        return str(self)


def thb(satang: int) -> str:
    """Integer satang as Thai baht text: 60000000 -> '600,000.00 THB'."""
    sign = "-" if satang < 0 else ""
    whole, frac = divmod(abs(satang), 100)
    return f"{sign}{whole:,}.{frac:02d} THB"


CATALOGUE: list[ErrorKind] = []


def _k(code: int, name: str, template: str) -> ErrorKind:
    kind = ErrorKind(code, name, template)
    CATALOGUE.append(kind)
    return kind


INTERNAL = _k(100, "INTERNAL", "internal error ({kind}); please report it with the transaction hash")

# 1xx: envelope, signature, nonce
MALFORMED_TX = _k(101, "MALFORMED_TX", "the transaction could not be read: {reason}")
TX_TOO_LARGE = _k(102, "TX_TOO_LARGE", "the transaction has {size} bytes, more than the limit of {limit}")
WRONG_CHAIN = _k(103, "WRONG_CHAIN", "the transaction is for chain '{got}', this chain is '{want}'")
UNKNOWN_TX_TYPE = _k(104, "UNKNOWN_TX_TYPE", "'{type}' is not a known transaction type")
BAD_SIGNATURE = _k(105, "BAD_SIGNATURE", "the signature does not match the transaction and the signer's key")
UNKNOWN_SIGNER = _k(106, "UNKNOWN_SIGNER", "the signing key {address} is not registered on the ledger")
KEY_REVOKED = _k(107, "KEY_REVOKED", "the signing key {address} has been revoked")
BAD_NONCE = _k(108, "BAD_NONCE", "the transaction's sequence number is {got}, the next expected is {want}")
MALFORMED_BODY = _k(109, "MALFORMED_BODY", "the transaction's content is invalid: {reason}")

# 2xx: authority and registry
NOT_AUTHORISED = _k(201, "NOT_AUTHORISED", "{action} must be signed by {role}; the signer is {signer}")
INSTITUTION_EXISTS = _k(202, "INSTITUTION_EXISTS", "{kind} {code} is already registered")
UNKNOWN_INSTITUTION = _k(203, "UNKNOWN_INSTITUTION", "{kind} {code} is not registered")
INSTITUTION_SUSPENDED = _k(204, "INSTITUTION_SUSPENDED", "{kind} {code} is suspended and may not transact")
BAD_TAX_ID = _k(205, "BAD_TAX_ID", "tax ID '{tax_id}' is not 13 digits with a valid check digit")
SUPPLIER_EXISTS = _k(206, "SUPPLIER_EXISTS", "supplier {tax_id} is already registered")
UNKNOWN_SUPPLIER = _k(207, "UNKNOWN_SUPPLIER", "supplier {tax_id} is not registered")
KEY_EXISTS = _k(208, "KEY_EXISTS", "key {address} is already registered")
UNKNOWN_KEY = _k(209, "UNKNOWN_KEY", "key {address} is not registered")
BAD_CODE = _k(210, "BAD_CODE", "'{code}' is not a valid {what}")
SUPPLIER_SUSPENDED = _k(211, "SUPPLIER_SUSPENDED", "supplier {tax_id} is suspended")

# 3xx: requirements and issuance
UNKNOWN_REQUIREMENT = _k(301, "UNKNOWN_REQUIREMENT", "security requirement '{req_id}' does not exist")
STALE_REQUIREMENT = _k(
    302, "STALE_REQUIREMENT", "requirement '{req_id}' is at version {latest}; the guarantee cites version {got}"
)
AMOUNT_BELOW_MINIMUM = _k(
    303, "AMOUNT_BELOW_MINIMUM", "amount {amount} is below the {minimum} the requirement asks for"
)
EXPIRY_TOO_EARLY = _k(
    304, "EXPIRY_TOO_EARLY", "expiry {expiry} is before {must_cover} the requirement must be covered until"
)
DUPLICATE_ID = _k(305, "DUPLICATE_ID", "a guarantee with id {id} (bank {bank}, reference {ref}) already exists")
LIVE_GUARANTEE_EXISTS = _k(
    306,
    "LIVE_GUARANTEE_EXISTS",
    "supplier {supplier} already has live {type} guarantee {existing} for requirement '{req_id}'; use replace",
)
WRONG_TYPE = _k(307, "WRONG_TYPE", "the requirement asks for a {want} guarantee, not {got}")
BID_DEADLINE_PASSED = _k(308, "BID_DEADLINE_PASSED", "the bid deadline {deadline} has passed")
BAD_AMOUNT = _k(309, "BAD_AMOUNT", "amount must be a positive number of satang, got {amount}")
BAD_TIME = _k(310, "BAD_TIME", "{what} {when} must be after the current block time {now}")
UNKNOWN_REQUEST = _k(311, "UNKNOWN_REQUEST", "request {id} does not exist")
REQUEST_CLOSED = _k(312, "REQUEST_CLOSED", "request {id} is already {status}")
BAD_FIELD = _k(313, "BAD_FIELD", "{field} is invalid: {reason}")
REPLACE_MISMATCH = _k(314, "REPLACE_MISMATCH", "guarantee {old} cannot be replaced by this one: {reason}")
BEFORE_REVEAL = _k(315, "BEFORE_REVEAL", "bid securities for requirement '{req_id}' are sealed until {deadline}")

# 4xx: guarantee lifecycle
UNKNOWN_GUARANTEE = _k(401, "UNKNOWN_GUARANTEE", "guarantee {id} does not exist")
WRONG_STATUS = _k(402, "WRONG_STATUS", "guarantee {id} is {status}; {action} needs it to be {allowed}")
TERMINAL = _k(403, "TERMINAL", "guarantee {id} is {status}, which is final")
DEMAND_EXCEEDS_AVAILABLE = _k(
    404, "DEMAND_EXCEEDS_AVAILABLE", "demand of {amount} exceeds available {available}"
)
DEMAND_AFTER_EXPIRY = _k(
    405, "DEMAND_AFTER_EXPIRY", "guarantee {id} expired at {expiry}; a demand is no longer possible"
)
PARTIAL_NOT_ALLOWED = _k(
    406, "PARTIAL_NOT_ALLOWED", "guarantee {id} allows only a demand for the full available {available}"
)
DEMAND_PENDING = _k(407, "DEMAND_PENDING", "guarantee {id} has a demand under examination; {action} must wait")
NO_DEMAND = _k(408, "NO_DEMAND", "guarantee {id} has no pending demand")
WINDOW_CLOSED = _k(
    409, "WINDOW_CLOSED", "the examination period of the demand on {id} ended at {deadline}; it can only be honoured"
)
AMENDMENT_PENDING = _k(410, "AMENDMENT_PENDING", "guarantee {id} already has an amendment awaiting the beneficiary")
NO_AMENDMENT = _k(411, "NO_AMENDMENT", "guarantee {id} has no pending amendment")
REDUCTION_TOO_LARGE = _k(
    412, "REDUCTION_TOO_LARGE", "new amount {new} must be at least paid plus pending demands ({floor}) and above zero"
)
NOT_A_REDUCTION = _k(413, "NOT_A_REDUCTION", "new amount {new} is not below the current amount {amount}")
EXTEND_OR_PAY_NOT_ALLOWED = _k(
    414, "EXTEND_OR_PAY_NOT_ALLOWED", "guarantee {id} has no extend-or-pay clause or the demand offered no extension"
)
NO_REDUCTION_CLAUSE = _k(415, "NO_REDUCTION_CLAUSE", "guarantee {id} has no reduction clause the bank could apply")
NOT_EXPIRED = _k(416, "NOT_EXPIRED", "guarantee {id} runs until {expiry}; it has not expired")
MULTIPLE_NOT_ALLOWED = _k(
    417, "MULTIPLE_NOT_ALLOWED", "guarantee {id} allows one demand only and one was already presented"
)
ALREADY_CONSENTED = _k(418, "ALREADY_CONSENTED", "{party} has already consented to {action} guarantee {id}")
AMENDMENT_NO_CHANGE = _k(420, "AMENDMENT_NO_CHANGE", "the amendment changes nothing: {reason}")

# 5xx: credit confirmations
UNKNOWN_CC = _k(501, "UNKNOWN_CC", "credit confirmation {id} does not exist")
CC_EXISTS = _k(502, "CC_EXISTS", "credit confirmation {id} (bank {bank}, reference {ref}) already exists")
CC_NOT_USABLE = _k(503, "CC_NOT_USABLE", "credit confirmation {id} is {status} and can no longer be used")
CC_EXPIRED = _k(504, "CC_EXPIRED", "credit confirmation {id} was valid until {valid_until}")
CC_WRONG_ADDRESSEE = _k(505, "CC_WRONG_ADDRESSEE", "credit confirmation {id} is addressed to {addressee}, not {who}")
BAD_PURPOSE = _k(507, "BAD_PURPOSE", "'{purpose}' is not a credit-confirmation purpose")
CC_THRESHOLD = _k(508, "CC_THRESHOLD", "attested threshold {threshold} exceeds the confirmed amount {amount}")

# 6xx: rating, validators, evidence
BAD_POINTS = _k(601, "BAD_POINTS", "{points} is not an official damage-point value (1, 5, 10, 20, 30 or 60)")
UNKNOWN_PROPOSAL = _k(602, "UNKNOWN_PROPOSAL", "validator-change proposal {id} does not exist")
PROPOSAL_CLOSED = _k(603, "PROPOSAL_CLOSED", "validator-change proposal {id} is already {status}")
ALREADY_APPROVED = _k(604, "ALREADY_APPROVED", "bank {bank} has already approved proposal {id}")
NOT_A_VALIDATOR_OPERATOR = _k(
    605, "NOT_A_VALIDATOR_OPERATOR", "bank {bank} operates no validator with voting power"
)
BAD_POWER = _k(606, "BAD_POWER", "voting power must be between 0 and {max}, got {power}")
LAST_VALIDATOR = _k(607, "LAST_VALIDATOR", "the change would leave the chain without voting power")

# 9xx: queries
UNKNOWN_PATH = _k(901, "UNKNOWN_PATH", "'{path}' is not a query path")
NOT_FOUND = _k(902, "NOT_FOUND", "{what} {key} was not found")
BAD_QUERY = _k(903, "BAD_QUERY", "the query is invalid: {reason}")
HEIGHT_UNAVAILABLE = _k(
    904, "HEIGHT_UNAVAILABLE", "state at height {height} is not kept; only the latest height {latest} is"
)

BY_CODE: dict[int, ErrorKind] = {k.code: k for k in CATALOGUE}
assert len(BY_CODE) == len(CATALOGUE), "duplicate error code"


def render_markdown() -> str:
    """The catalogue as Markdown (the content of docs/errors.md)."""
    lines = [
        "# Rejection codes",
        "",
        f"Every refused transaction or query carries `codespace = \"{CODESPACE}\"`, a stable numeric `code` and a",
        "`log` sentence built from the template below. Code 0 is success. Generated from `state/errors.py`",
        "(`python -m state.errors > docs/errors.md`); `tests/state/test_errors.py` keeps this file in sync.",
        "",
        "| code | name | message template |",
        "|---:|---|---|",
    ]
    for k in CATALOGUE:
        lines.append(f"| {k.code} | `{k.name}` | {k.template} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
