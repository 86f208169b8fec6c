"""The errors a user can fix, and the one way every entry point reports them.

Each is one line that names what failed and where (a file and record, a ``--set`` argument, a
model, a storage location, an LLM endpoint). Entry points print it without a traceback and exit
with status 2; checks that raise them run before anything is written.

Usage::

    with user_errors("tkre eval"):
        run(load(args.config, args.set))      # a UserError -> "tkre eval: error: ...", exit 2
"""

from __future__ import annotations

import contextlib
import sys


class UserError(Exception):
    """Bad input or an unusable resource; the message is the whole story."""


class ConfigError(UserError, ValueError):
    """A config file, ``--set`` argument or command-line value that does not fit the job."""


class DataError(UserError, ValueError):
    """Malformed input: names the file, the record and the field."""

    def __init__(self, path: object, record: object, field: str, problem: str):
        self.path, self.record, self.field, self.problem = str(path), record, field, problem
        super().__init__(f"{path}: record {record}: field '{field}': {problem}")

    def __reduce__(self):  # crosses process boundaries (Ray workers) whole
        return type(self), (self.path, self.record, self.field, self.problem)


class DataMissing(UserError, FileNotFoundError):
    """A dataset file, split or K-shot folder that is not where the data folder says."""


class ModelError(UserError, ValueError):
    """A model that cannot be loaded: a missing folder, or a hub name while the hub is offline."""


class StorageError(UserError):
    """A folder or ``s3://`` location that cannot be used: no credentials, no endpoint, no bucket."""


class EndpointError(UserError, ConnectionError):
    """An LLM endpoint that does not answer or refuses the key."""


@contextlib.contextmanager
def user_errors(prog: str):
    """Turns a ``UserError`` into one line on stderr and exit status 2."""
    try:
        yield
    except UserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
