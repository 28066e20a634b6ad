"""gRPC clients of the serve tests: stubs compiled from our src/server/kserve_v2.proto by
python3-grpc-tools, and a hand-made protobuf encoder/decoder that uses only the protocol's
field numbers (so that a mistake in our .proto cannot hide in both ends)."""
import os
import struct
import subprocess
import sys
import tempfile

from serve_util import SRC, TMP


def import_grpc():
    """grpc and the generated modules, or exit (77 skip; 1 under CI=true)."""
    try:
        import grpc  # noqa: F401
        from grpc_tools import protoc  # noqa: F401
    except ImportError as e:
        print("skipped: %s (apt-get install python3-grpcio python3-grpc-tools)" % e)
        sys.exit(1 if os.environ.get("CI") == "true" else 77)
    out = tempfile.mkdtemp(dir=TMP)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(SRC, "src/server"),
                    "--python_out=" + out, "--grpc_python_out=" + out, "kserve_v2.proto"],
                   check=True)
    sys.path.insert(0, out)
    import grpc
    import kserve_v2_pb2
    import kserve_v2_pb2_grpc
    return grpc, kserve_v2_pb2, kserve_v2_pb2_grpc


MAX_MESSAGE = 64 * 1024 * 1024  # Docling's grpc_max_message_bytes default


def channel(grpc, port):
    return grpc.insecure_channel("127.0.0.1:%d" % port, options=[
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.max_receive_message_length", MAX_MESSAGE)])


def docling_request(pb2, model, pages, sizes, binary=True, outputs=("labels", "boxes", "scores")):
    """A ModelInferRequest built as Docling's KserveV2GrpcClient.infer builds it."""
    H = W = 640
    req = pb2.ModelInferRequest(model_name=model)
    img = b"".join(pages)
    sz = b"".join(struct.pack("<qq", w, h) for (w, h) in sizes)
    for name, dt, shape, raw in (("images", "FP32", [len(pages), 3, H, W], img),
                                 ("orig_target_sizes", "INT64", [len(sizes), 2], sz)):
        t = req.inputs.add()
        t.name = name
        t.datatype = dt
        t.shape.extend(shape)
        if binary:
            t.parameters["binary_data"].bool_param = True
            req.raw_input_contents.append(raw)
        elif dt == "FP32":
            t.contents.fp32_contents.extend(struct.unpack("<%df" % (len(raw) // 4), raw))
        else:
            t.contents.int64_contents.extend(struct.unpack("<%dq" % (len(raw) // 8), raw))
    for o in outputs:
        ot = req.outputs.add()
        ot.name = o
        if binary:
            ot.parameters["binary_data"].bool_param = True
    return req


def outputs_of(resp, binary=True):
    """{name: raw bytes} the way Docling reads a reply (binary: raw_output_contents, one per
    output, else it refuses the reply; otherwise the typed contents)."""
    if binary:
        assert len(resp.raw_output_contents) == len(resp.outputs), "one raw output per output"
        return {o.name: raw for o, raw in zip(resp.outputs, resp.raw_output_contents)}
    out = {}
    for o in resp.outputs:
        if o.datatype == "INT64":
            v = list(o.contents.int64_contents)
            out[o.name] = struct.pack("<%dq" % len(v), *v)
        else:
            v = list(o.contents.fp32_contents)
            out[o.name] = struct.pack("<%df" % len(v), *v)
    return out


# ---- protobuf wire format by hand ------------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_len(num, payload):  # wire type 2
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def field_varint(num, v):  # wire type 0
    return varint(num << 3 | 0) + varint(v)


def parse(buf):
    """[(field number, wire type, value)] of one message level."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
