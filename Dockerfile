# syntax=docker/dockerfile:1
#
# doclayout with its CUDA backend on NVIDIA's CUDA 13 / Ubuntu 24.04 images, for the DGX Spark
# (linux/arm64, GB10 sm_121) and x86-64 GPU hosts (linux/amd64). See docs/dgx-spark.md.
#
#   docker build -t doclayout:cuda13 .                      # on the Spark itself: native arm64
#   docker buildx build --platform linux/arm64,linux/amd64 -t doclayout:cuda13 .
#   docker run --rm --gpus all -v ~/.cache/huggingface:/hf:ro -v "$PWD":/data doclayout:cuda13 \
#       detect --model docling-project/docling-layout-heron --device cuda /data/page.png
#   docker build --target test .                            # the CPU test suite in the image
#
# Stages: build (devel image: compilers, CUDA toolkit, the -dev libraries from
# scripts/install-deps.sh, the CUDA module built with -DDL_CUDA=ON and the project's own CUDA
# architecture list), test (ctest on the CPU, optional), runtime (runtime image: the installed
# tree, non-root, HEALTHCHECK = doclayout doctor). Nothing is downloaded at run time: models
# come from the mounted Hugging Face cache (HF_HOME=/hf).

ARG CUDA_VERSION=13.0.0
ARG UBUNTU_VERSION=24.04

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS build
# Empty: the CUDA architectures of src/backends/cuda (the list the project tests); set it to
# override, e.g. --build-arg CUDA_ARCHITECTURES="121-real;120-virtual".
ARG CUDA_ARCHITECTURES=
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDL_CUDA=ON \
        -DCMAKE_INSTALL_PREFIX=/opt/doclayout -DDL_SHARED_DIR=/nonexistent \
        ${CUDA_ARCHITECTURES:+"-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}"} \
    && cmake --build /build -j "$(nproc)" \
    && cmake --install /build \
    && install -m 0755 scripts/docker-watch.sh /opt/doclayout/bin/doclayout-watch

FROM build AS test
RUN ctest --test-dir /build --output-on-failure -j "$(nproc)" -E '^test_install$'

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --system --gid 10001 doclayout \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/doclayout \
        --shell /usr/sbin/nologin doclayout \
    && mkdir -p /data /hf && chown doclayout:doclayout /data
COPY --from=build /opt/doclayout /opt/doclayout
ENV PATH=/opt/doclayout/bin:${PATH} \
    HF_HOME=/hf \
    HF_HUB_OFFLINE=1
USER doclayout:doclayout
WORKDIR /data
# Healthy = the CPU self-test passes, and the CUDA one too when a GPU is reserved (doctor's
# --device auto). A few seconds of CPU every 5 minutes.
HEALTHCHECK --interval=5m --timeout=2m --start-period=1m --retries=3 \
    CMD ["doclayout", "doctor", "--threads", "2"]
ENTRYPOINT ["doclayout"]
CMD ["doctor"]
