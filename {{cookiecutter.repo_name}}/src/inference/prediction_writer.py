"""The prediction writer's child process: `python -m src.inference.prediction_writer`.

A plain interpreter started by `ProcessWriter` (src/inference/prediction_log.py), not a
multiprocessing child: multiprocessing would re-import the server's main module, the
whole stack, where this process needs only the data layer. It reads pickled messages on
the pipe named by its first argument and answers on the second: first the writer
factory, then lists of chunks to write (answer: None or the error's text), then None.
"""

from __future__ import annotations

import contextlib
import sys
from multiprocessing.connection import Connection


def serve_writes(requests: Connection, answers: Connection) -> None:
    write = requests.recv()()
    while True:
        chunks = requests.recv()
        if chunks is None:
            return
        try:
            write(chunks)
        except Exception as error:  # reported to the server, which keeps the rows
            answers.send(f"{type(error).__name__}: {error}")
        else:
            answers.send(None)


def main() -> None:
    read_fd, write_fd = (int(value) for value in sys.argv[1:3])
    requests = Connection(read_fd, writable=False)
    answers = Connection(write_fd, readable=False)
    with contextlib.suppress(EOFError):  # the server went away: nothing more will come
        serve_writes(requests, answers)


if __name__ == "__main__":
    main()
