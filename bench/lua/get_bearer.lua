-- GET the URL's path with a bearer token (BENCH_TOKEN), e.g. oidc-provider's userinfo.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
