"""netlab: step through the Linux networking stack, then check it against your own kernel."""
from netlab.exercises import Exercise
from netlab.kernel.profiles import PROFILES, KernelProfile, profile
from netlab.live.profile import this_machine
from netlab.live.result import LiveResult
from netlab.trace import Event, Trace, Tracer, kernel_function
from netlab.view.stepper import Stepper

__all__ = ["Event", "Exercise", "KernelProfile", "LiveResult", "PROFILES", "Stepper", "Trace", "Tracer",
           "kernel_function", "profile", "this_machine"]
__version__ = "0.1.0"
