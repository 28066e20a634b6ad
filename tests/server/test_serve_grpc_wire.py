"""ModelInfer over gRPC with the request assembled and the reply parsed byte by byte from the
KServe v2 protocol's field numbers alone (grpc_predict_v2.proto), not from our .proto:
ModelInferRequest model_name = 1, parameters = 4, inputs = 5, outputs = 6,
raw_input_contents = 7; InferInputTensor name = 1, datatype = 2, shape = 3, parameters = 4;
InferParameter bool_param = 1, string_param = 3; ModelInferResponse model_name = 1,
outputs = 5, raw_output_contents = 6; InferOutputTensor name = 1, datatype = 2, shape = 3.
grpcio carries the bytes unchanged (no serializer)."""
import struct

from grpc_util import (MAX_MESSAGE, field_len, field_varint, import_grpc, parse, read_varint,
                       varint)
from serve_util import K, MODEL_NAME, Server, check, finish, make_pages, reference

grpc, _, _ = import_grpc()
pages = make_pages(2, seed=3)
sizes = [(1000, 1414), (595, 842)]
ref = reference(pages, sizes)


def param_entry(field, key, bool_value=None, string_value=None):
    if bool_value is not None:
        value = field_varint(1, 1 if bool_value else 0)  # InferParameter.bool_param = 1
    else:
        value = field_len(3, string_value.encode())      # InferParameter.string_param = 3
    return field_len(field, field_len(1, key.encode()) + field_len(2, value))


def input_tensor(name, datatype, shape, packed):
    b = field_len(1, name.encode()) + field_len(2, datatype.encode())
    if packed:
        b += field_len(3, b"".join(varint(d) for d in shape))
    else:  # proto3 parsers take unpacked repeated scalars too
        b += b"".join(field_varint(3, d) for d in shape)
    return b + param_entry(4, "binary_data", bool_value=True)


img = b"".join(pages)
sz = b"".join(struct.pack("<qq", w, h) for (w, h) in sizes)
msg = field_len(1, MODEL_NAME.encode())
msg += param_entry(4, "priority_hint", string_value="none")  # a request parameter, ignored
msg += field_len(5, input_tensor("images", "FP32", [2, 3, 640, 640], packed=False))
msg += field_len(5, input_tensor("orig_target_sizes", "INT64", [2, 2], packed=True))
for o in ("labels", "boxes", "scores"):
    msg += field_len(6, field_len(1, o.encode()) + param_entry(2, "binary_data", bool_value=True))
msg += field_len(7, img) + field_len(7, sz)

srv = Server(grpc=True)
ch = grpc.insecure_channel("127.0.0.1:%d" % srv.grpc_port, options=[
    ("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)])
infer = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer")
reply = infer(msg, timeout=120)
check(isinstance(reply, bytes) and len(reply) > 0, "ModelInfer answered %d bytes" % len(reply))
fields = parse(reply)
name = [v for (n, wt, v) in fields if n == 1]
outputs = [v for (n, wt, v) in fields if n == 5 and wt == 2]
raws = [v for (n, wt, v) in fields if n == 6 and wt == 2]
check(name == [MODEL_NAME.encode()], "reply field 1 (model_name)")
check(len(outputs) == 3 and len(raws) == 3, "reply: 3 outputs (field 5), 3 raw_output_contents "
      "(field 6)")
want_shapes = {"labels": [2, K], "boxes": [2, K, 4], "scores": [2, K]}
want_types = {"labels": b"INT64", "boxes": b"FP32", "scores": b"FP32"}
want_raw = {"labels": ref[0], "boxes": ref[1], "scores": ref[2]}
for o, raw in zip(outputs, raws):
    f = parse(o)
    oname = [v for (n, wt, v) in f if n == 1][0].decode()
    dtype = [v for (n, wt, v) in f if n == 2][0]
    shape = []
    for (n, wt, v) in f:
        if n == 3 and wt == 2:  # packed
            i = 0
            while i < len(v):
                d, i = read_varint(v, i)
                shape.append(d)
        elif n == 3 and wt == 0:
            shape.append(v)
    check(dtype == want_types[oname] and shape == want_shapes[oname],
          "output %s: datatype (field 2) and shape (field 3)" % oname)
    check(raw == want_raw[oname], "output %s: raw bytes equal the reference bit for bit" % oname)

# a message that is not a ModelInferRequest at all: INVALID_ARGUMENT, no crash
try:
    infer(b"\xff\xff\xff", timeout=30)
    check(False, "garbage message refused")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "garbage message: INVALID_ARGUMENT (%s)"
          % e.details())
# an unknown method
try:
    ch.unary_unary("/inference.GRPCInferenceService/RepositoryIndex")(b"", timeout=30)
    check(False, "unknown method refused")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.UNIMPLEMENTED, "unknown method: UNIMPLEMENTED")
check(srv.stop() == 0, "SIGTERM: exit status 0")
finish("test_serve_grpc_wire")
