"""IOC executable of the iocdock demo image.

    ioc.py BIN [ST_CMD]

What a compiled EPICS IOC's main() does, done with ctypes on the EPICS base
libraries of the epicscorelibs wheel: run ST_CMD through libCom's real iocsh,
then keep the IOC alive. The wrapper /opt/EPICS/IOC/<BIN>/bin/linux-x86_64/<BIN>
starts it, so a generated st.cmd with that shebang runs as on a real image.

- `<BIN with - as _>_registerRecordDeviceDriver pdbbase` is registered the way
  a compiled IOC registers its generated one; it registers every record type,
  device support and registrar named in the loaded dbd.
- After ST_CMD the IOC shell reads the terminal when there is one (a swarm
  service with tty and stdin_open, `docker attach`); otherwise the IOC simply
  keeps running.
- SIGTERM (docker stop) and SIGINT end the IOC through epicsExit, which runs
  the IOC's exit handlers, with the status of a process ended by that signal
  (128 + its number: 143 for SIGTERM), so the engine records a stopped IOC, for
  example one its health check stopped, as a failure; a compiled IOC running as
  PID 1 ignores SIGTERM and ends with SIGKILL's 137. The IOC shell's `exit`
  ends it with status 0.
"""

import ctypes
import os
import signal
import sys
import threading

# The image's environment says where base is, as on IocDock's image.
LIB_DIR = os.environ.get("EPICS_DEMO_LIB_DIR") or os.path.join(
    os.environ.get("EPICS_BASE", "/opt/EPICS/base-7.0.8.1"),
    "lib",
    os.environ.get("EPICS_HOST_ARCH", "linux-x86_64"),
)
# dbCore needs libCom's and libca's symbols and dbRecStd needs dbCore's: each
# must be loaded global before the next one.
LIBS = ("Com", "ca", "dbCore", "dbRecStd")

# iocshArgType of iocsh.h.
IOCSH_ARG_PDBBASE = 3
# _IOLBF of glibc's stdio.h.
LINE_BUFFERED = 1


class IocshArg(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int)]


class IocshFuncDef(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("nargs", ctypes.c_int),
        ("arg", ctypes.POINTER(ctypes.POINTER(IocshArg))),
        ("usage", ctypes.c_char_p),
    ]


IOCSH_CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

# iocsh keeps pointers to the definition and the callback for the whole run:
# they must never be garbage collected.
_registered = []


def fail(message):
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def load_libraries():
    libs = {}
    for name in LIBS:
        path = os.path.join(LIB_DIR, f"lib{name}.so")
        try:
            libs[name] = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            fail(f"cannot load {path}: {e}")
    return libs


def register_driver_command(bin_name, core):
    core.registerAllRecordDeviceDrivers.argtypes = [ctypes.c_void_p]
    core.registerAllRecordDeviceDrivers.restype = ctypes.c_long
    pdbbase = ctypes.c_void_p.in_dll(core, "pdbbase")

    def register(_args):
        # The argument is pdbbase by definition; the library's own global is
        # the database dbLoadDatabase filled.
        if core.registerAllRecordDeviceDrivers(pdbbase.value):
            print("registerRecordDeviceDriver failed", file=sys.stderr, flush=True)

    name = f"{bin_name.replace('-', '_')}_registerRecordDeviceDriver"
    arg = IocshArg(b"pdbbase", IOCSH_ARG_PDBBASE)
    args = (ctypes.POINTER(IocshArg) * 1)(ctypes.pointer(arg))
    definition = IocshFuncDef(name.encode(), 1, args, b"Register the IOC's record and device support\n")
    callback = IOCSH_CALL(register)
    _registered.extend([arg, args, definition, callback])
    return definition, callback


def main():
    if len(sys.argv) < 2:
        fail("usage: ioc.py BIN [ST_CMD]")
    bin_name = sys.argv[1]
    script = sys.argv[2] if len(sys.argv) > 2 else None

    # Without a terminal C stdio buffers whole blocks, so `docker logs` would
    # not show "iocRun: All initialization complete" until much later.
    libc = ctypes.CDLL(None)
    libc.setvbuf(ctypes.c_void_p.in_dll(libc, "stdout"), None, LINE_BUFFERED, 0)

    libs = load_libraries()
    com, core = libs["Com"], libs["dbCore"]
    com.iocsh.argtypes = [ctypes.c_char_p]
    com.iocsh.restype = ctypes.c_int
    com.epicsExit.argtypes = [ctypes.c_int]
    com.epicsExit.restype = None
    com.iocshRegister.argtypes = [ctypes.POINTER(IocshFuncDef), IOCSH_CALL]
    com.iocshRegister.restype = None
    core.iocshRegisterCommon.argtypes = []
    core.iocshRegisterCommon.restype = None

    core.iocshRegisterCommon()
    definition, callback = register_driver_command(bin_name, core)
    com.iocshRegister(ctypes.byref(definition), callback)

    stop = threading.Event()
    received = []

    def on_signal(signum, _frame):
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def shell():
        if script is not None:
            com.iocsh(script.encode())
        if sys.stdin.isatty():
            com.iocsh(None)
            stop.set()

    # The shell runs beside the main thread because Python runs signal
    # handlers only in the main thread, which must not be inside a C call.
    threading.Thread(target=shell, daemon=True).start()
    while not stop.wait(1.0):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    com.epicsExit(128 + received[0] if received else 0)


if __name__ == "__main__":
    main()
