"""Every kernel function a trace names is a function of the kernel whose profile made it: a 6.12 trace names only
functions of the committed 6.12 index, a 3.10 trace only functions of the 3.10 index (vanilla 3.10.65), each in the
file that kernel defines it in (netlab.kernel.renamed maps 6.12's names to 3.10's)."""
import pytest

from netlab.kernel.profiles import PROFILES
from netlab.kernel.source_index import kernel_index
from netlab.scenarios import blocking_vs_epoll as ch02
from netlab.scenarios.connection_memory import connection_trace
from stories import STORIES as DRAWN

STORIES = {**{name: make for name, (make, _) in DRAWN.items()},
           "02 epoll exclusive": lambda p: ch02.epoll_exclusive(profile=p).trace,
           "06 server CLOSE_WAIT with epoll": lambda p: connection_trace(PROFILES[p], "server", "CLOSE_WAIT",
                                                                        epoll=True)}
"""Every chapter's stories (tests/stories.py), and two more."""


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("story", STORIES)
def test_every_function_a_trace_names_is_in_its_kernel(story, profile):
    index = kernel_index(profile)
    named = STORIES[story](profile).sources()
    wrong = {f: source for f, source in named.items() if index["functions"].get(f, {}).get("file") != source}
    assert not wrong, (f"{story} ({profile}): {len(wrong)} of {len(named)} functions are not where Linux "
                       f"{index['release']} defines them: {wrong}")

