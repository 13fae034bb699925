# Logs (including Python's output, which goes to Logger) are shown only for
# failing tests.
ExUnit.start(capture_log: true)
