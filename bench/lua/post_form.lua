-- POST a form body (BENCH_BODY) to the URL's path, e.g. /oauth/token client_credentials.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
