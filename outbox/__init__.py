"""The transactional outbox: a small app every domain app may use (it imports only core and
Django). Services write rows in their transaction; the after-commit fast path and the relay
hand each row to the publisher its topic was registered with by an app's tasks.py."""
