from tests.journals.conftest import alice, bob

__all__ = ["alice", "bob"]
