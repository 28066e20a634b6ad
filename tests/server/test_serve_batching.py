"""Dynamic batching: 8 concurrent clients, half over HTTP (curl) and half over gRPC, each
sending its own pages; every client gets its own results, in its order, bit for bit equal to
the reference computed page by page (so a page's result does not depend on the batch it rode
in, on the CPU). /metrics must show batches that mixed pages of several requests, and a
request larger than --max-batch is split across batches and put back in order."""
import json
import threading

from grpc_util import channel, docling_request, import_grpc, outputs_of
from serve_util import (MODEL_NAME, Server, check, curl, finish, infer_binary, join_pages,
                        make_pages, ref_page, reference)

grpc, pb2, pb2_grpc = import_grpc()
pages = make_pages(3, seed=7)
sizes = [(612, 792), (1240, 1754), (300, 200)]
ref = reference(pages, sizes)
refs = [ref_page(ref, i) for i in range(3)]

srv = Server("--max-batch", "4", "--max-wait-ms", "100", grpc=True)
infer_url = srv.url + "/v2/models/%s/infer" % MODEL_NAME
results = {}


def client(i):
    ch = channel(grpc, srv.grpc_port)
    stub = pb2_grpc.GRPCInferenceServiceStub(ch)
    got = []
    for r in range(3):
        order = [(i + r) % 3] if (i + r) % 2 else [(i + r) % 3, (i + r + 1) % 3]
        pg, sz = [pages[k] for k in order], [sizes[k] for k in order]
        want = join_pages([refs[k] for k in order])
        if i % 2 == 0:
            code, _, out = infer_binary(infer_url, pg, sz)
            ok = code == 200 and (out["labels"], out["boxes"], out["scores"]) == want
        else:
            out = outputs_of(stub.ModelInfer(docling_request(pb2, MODEL_NAME, pg, sz), timeout=120))
            ok = (out["labels"], out["boxes"], out["scores"]) == want
        got.append(ok)
    ch.close()
    results[i] = got


threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for i in range(8):
    check(results.get(i) == [True, True, True],
          "client %d (%s): its own results, in order, 3 requests" % (i, "HTTP" if i % 2 == 0 else "gRPC"))

# one request of 5 pages with --max-batch 4: split over two batches, reassembled in order
order = [2, 0, 1, 1, 2]
code, _, out = infer_binary(infer_url, [pages[k] for k in order], [sizes[k] for k in order])
check(code == 200 and (out["labels"], out["boxes"], out["scores"]) ==
      join_pages([refs[k] for k in order]), "5 pages in one request, split across batches, in order")

code, _, body = curl(srv.url + "/metrics")
metrics = {}
for line in body.decode().splitlines():
    if line and not line.startswith("#"):
        k, v = line.rsplit(" ", 1)
        metrics[k] = float(v)
batches = metrics["doclayout_batch_pages_count"]
up_to_2 = metrics['doclayout_batch_pages_bucket{le="2"}']
print("batches %d, pages %d, batches of <= 2 pages %d" % (
    batches, metrics["doclayout_batch_pages_sum"], up_to_2))
check(batches > 0 and up_to_2 < batches,
      "some batch held 3+ pages: pages of several requests (each of <= 2 pages) pooled")
check(metrics["doclayout_pages_total"] == metrics["doclayout_batch_pages_sum"],
      "pages_total counts every page once")
check(srv.stop() == 0, "SIGTERM: exit status 0")
finish("test_serve_batching")
