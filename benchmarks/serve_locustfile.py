"""The load of benchmarks/serve.py: each locust user posts the coffee photo to /predict in a
closed loop. Bounded twice: locust's --run-time, and EFFNET_LOAD_MAX_REQUESTS requests in all,
after which the runner stops itself."""

import os

from locust import FastHttpUser, task

IMAGE = open(os.environ["EFFNET_LOAD_IMAGE"], "rb").read()  # noqa: SIM115 (read once, at import)
MAX_REQUESTS = int(os.environ.get("EFFNET_LOAD_MAX_REQUESTS", "5000"))
HEADERS = {"Content-Type": "image/jpeg"}
sent = 0


class Client(FastHttpUser):
    @task
    def predict(self) -> None:
        global sent
        sent += 1
        if sent > MAX_REQUESTS:
            self.environment.runner.quit()
            return
        with self.client.post("/predict", data=IMAGE, headers=HEADERS, catch_response=True) as r:
            if r.status_code != 200 or "predictions" not in r.text:
                r.failure(f"{r.status_code}: {r.text[:100]}")
