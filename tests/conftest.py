"""Fixtures shared by every test: one torch thread."""
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread for the whole suite: the test networks and batches are small, and
    on the 2 shared cores of the CI machine OpenMP threads spin-waiting on a busy core cost far
    more than a second thread gains (5-30x slower runs were seen with 2 threads under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
