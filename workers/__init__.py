"""RQ workers and the scheduler: the background half of Advancia Mini."""
