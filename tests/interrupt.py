"""Ctrl-C to a training in a process of its own, as a user's terminal sends it."""

import os
import signal
import subprocess
import sys
import time


def interrupted(folder, body: str, *, ready: str = None, after: float = 0.0, group: bool = False, timeout: float = 90,
                hang: float = 80) -> tuple[int, str, str]:
    """Run ``body`` (Python source) in a new Python process, wait for it to print the line ``ready`` (where given),
    then ``after`` seconds, send it SIGINT (to its whole process group with ``group``, as a terminal does), and
    return its exit status, stdout and stderr. The process restores SIGINT's default handler (a shell's background
    job starts with SIGINT ignored) and dumps its threads' tracebacks if it is still running after ``hang`` s."""
    script = folder / "interrupted.py"
    script.write_text("import faulthandler, signal\n"
                      "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                      f"faulthandler.dump_traceback_later({hang}, exit=True)\n" + body)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=group)
    if ready is not None:
        line = proc.stdout.readline().strip()
        if line != ready:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"expected {ready!r} first, got {line!r}\n{out}\n{err}")
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT) if group else proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
