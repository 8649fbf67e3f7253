# The project's own `test` package. It must shadow the standard library's `test` package: Hummingbot's test support
# imports `test.isolated_asyncio_wrapper_test_case`, which the hummingbot release does not ship (see pytest.ini).
