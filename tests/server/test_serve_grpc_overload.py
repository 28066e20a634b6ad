"""gRPC overload: with every one of --grpc-threads call threads busy, a new call gets
RESOURCE_EXHAUSTED at once instead of waiting in gRPC core for a free thread; once they are
free again, calls are served. The busy calls are two ModelInfer calls whose pages wait in the
batcher (--max-wait-ms 3000 for a batch of 8 that never fills)."""
import threading
import time

from grpc_util import channel, docling_request, import_grpc, outputs_of
from serve_util import MODEL_NAME, Server, check, curl, finish, make_pages

grpc, pb2, pb2_grpc = import_grpc()
srv = Server("--grpc-threads", "2", "--max-batch", "8", "--max-wait-ms", "3000", grpc=True)
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
pages = make_pages(1, seed=5)
got = []


def busy_call():
    try:
        out = outputs_of(stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages, [(612, 792)]),
                                         timeout=60))
        got.append(len(out["scores"]) > 0)
    except grpc.RpcError as e:
        got.append(e.code())


ts = [threading.Thread(target=busy_call) for _ in range(2)]
for t in ts:
    t.start()
queued, t_end = 0, time.time() + 30
while queued < 2 and time.time() < t_end:
    time.sleep(0.05)
    for line in curl(srv.url + "/metrics", timeout=10)[2].decode().splitlines():
        if line.startswith("doclayout_queue_pages{"):
            queued = int(line.rsplit(" ", 1)[1])
check(queued == 2, "two calls hold both call threads (their pages wait in the batcher)")

for what, call, req in (("ModelInfer", stub.ModelInfer,
                         docling_request(pb2, MODEL_NAME, pages, [(612, 792)])),
                        ("ServerLive", stub.ServerLive, pb2.ServerLiveRequest())):
    t0 = time.monotonic()
    try:
        call(req, timeout=20)
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        code, details = e.code(), e.details()
    took = time.monotonic() - t0
    check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and "grpc-threads" in details and took < 1.5,
          "a third call (%s) while both are busy: %s in %.2f s (%s)" % (what, code, took, details))

for t in ts:
    t.join()
check(got == [True, True], "the two busy calls finish with their results (%s)" % got)
r = stub.ServerLive(pb2.ServerLiveRequest(), timeout=20)
check(r.live, "once the threads are free, a call is served")
body = curl(srv.url + "/metrics")[2].decode()
check("doclayout_rejected_total 2" in body, "the refusals are counted in doclayout_rejected_total")
check(srv.stop() == 0, "SIGTERM, exit 0")
finish("test_serve_grpc_overload")
