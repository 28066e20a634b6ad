"""doclayout serve over gRPC with python3-grpcio and stubs compiled from our .proto: what
Docling's KserveV2GrpcClient sends (binary raw_input_contents, and typed contents with binary
data off), checked bit for bit against `doclayout infer` + the unclamped top-K reference."""
from grpc_util import channel, docling_request, import_grpc, outputs_of
from serve_util import (K, MODEL_NAME, Server, check, finish, make_pages, ref_page, reference)

grpc, pb2, pb2_grpc = import_grpc()
pages = make_pages(2, seed=1)
sizes = [(800, 600), (612, 792)]
ref = reference(pages, sizes)

srv = Server("--max-batch", "4", grpc=True)
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))

check(stub.ServerLive(pb2.ServerLiveRequest(), timeout=10).live, "ServerLive")
check(stub.ServerReady(pb2.ServerReadyRequest(), timeout=10).ready, "ServerReady")
check(stub.ModelReady(pb2.ModelReadyRequest(name=MODEL_NAME), timeout=10).ready, "ModelReady")
check(stub.ServerMetadata(pb2.ServerMetadataRequest(), timeout=10).name == "doclayout",
      "ServerMetadata")
meta = stub.ModelMetadata(pb2.ModelMetadataRequest(name=MODEL_NAME), timeout=10)
check([t.name for t in meta.inputs] == ["images", "orig_target_sizes"] and
      [t.datatype for t in meta.inputs] == ["FP32", "INT64"] and
      list(meta.inputs[0].shape) == [-1, 3, 640, 640] and
      [t.name for t in meta.outputs] == ["labels", "boxes", "scores"] and
      [t.datatype for t in meta.outputs] == ["INT64", "FP32", "FP32"] and
      list(meta.outputs[1].shape) == [-1, K, 4] and list(meta.versions) == ["1"],
      "ModelMetadata: 2 inputs and 3 outputs in Docling's order")

# Docling's binary path: two pages of different sizes, 9.8 MB: past gRPC's 4 MiB default
resp = stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages, sizes), timeout=120)
out = outputs_of(resp)
check([list(o.shape) for o in resp.outputs] == [[2, K], [2, K, 4], [2, K]],
      "ModelInfer: output shapes [N,K] [N,K,4] [N,K]")
check(len(resp.raw_output_contents) == 3, "one raw_output_contents entry per output")
check(out["labels"] == ref[0] and out["boxes"] == ref[1] and out["scores"] == ref[2],
      "binary ModelInfer equals the reference bit for bit (two page sizes in one request)")

# binary data off: typed contents both ways (fp32_contents, int64_contents)
resp = stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages[1:], sizes[1:], binary=False),
                       timeout=120)
out = outputs_of(resp, binary=False)
p1 = ref_page(ref, 1)
check(out["labels"] == p1[0] and out["boxes"] == p1[1] and out["scores"] == p1[2],
      "typed-contents ModelInfer equals the reference bit for bit")

# versioned, and errors carry gRPC codes with a message that names the problem
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
req.model_version = "1"
check(outputs_of(stub.ModelInfer(req, timeout=120))["scores"] == ref_page(ref, 0)[2],
      "model_version 1")


def code_of(call, *a, **kw):
    try:
        call(*a, timeout=60, **kw)
        return None, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


req.model_version = "7"
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.NOT_FOUND and "version '7'" in d, "unknown version: NOT_FOUND (%s)" % d)
req = docling_request(pb2, "nope", pages[:1], sizes[:1])
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.NOT_FOUND and "nope" in d, "unknown model: NOT_FOUND (%s)" % d)
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
req.inputs[0].shape[2] = 320
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.INVALID_ARGUMENT and "[N,3,640,640]" in d,
      "wrong image shape: INVALID_ARGUMENT (%s)" % d)
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
req.inputs[1].datatype = "INT32"
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.INVALID_ARGUMENT and "INT64" in d, "wrong dtype (%s)" % d)
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
req.raw_input_contents[0] = req.raw_input_contents[0][:-4]
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.INVALID_ARGUMENT and "bytes" in d, "short raw input (%s)" % d)
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
del req.raw_input_contents[1]
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.INVALID_ARGUMENT and "raw_input_contents" in d,
      "one raw_input_contents missing (%s)" % d)
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1], outputs=("labels", "masks"))
c, d = code_of(stub.ModelInfer, req)
check(c == grpc.StatusCode.INVALID_ARGUMENT and "masks" in d, "unknown output (%s)" % d)
c, d = code_of(stub.ModelMetadata, pb2.ModelMetadataRequest(name="nope"))
check(c == grpc.StatusCode.NOT_FOUND, "ModelMetadata of an unknown model: NOT_FOUND")
rc = srv.stop()
check(rc == 0, "SIGTERM: exit status 0")
finish("test_serve_grpc")
