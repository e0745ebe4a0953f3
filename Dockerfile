# syntax=docker/dockerfile:1
#
# posecast images. Targets:
#   runtime-gpu  (default, last stage)  onnxruntime-gpu + CUDA/cuDNN, our package, the demo model repository. No torch.
#   runtime-cpu                         the same on onnxruntime (CPU), for hosts without a GPU.
#   train                               torch (CUDA build) + the training CLI; writes into a mounted repository.
#
#   docker build -t posecast:gpu .
#   docker build -t posecast:cpu --target runtime-cpu .
#   docker build -t posecast:train --target train .
#
# Why a slim Python base plus NVIDIA's pip wheels rather than an nvidia/cuda runtime image:
# - the `gpu` extra (`onnxruntime-gpu[cuda,cudnn]`) already pulls the exact CUDA runtime, cuBLAS, cuFFT, cuRAND,
#   NVRTC and cuDNN wheels that the resolved onnxruntime-gpu release was built against. On an nvidia/cuda base those
#   libraries would be installed twice (once by apt in the base, once by pip) and the two copies can disagree.
# - The CUDA major always matches onnxruntime-gpu by construction: onnxruntime-gpu <= 1.26 on PyPI is built for
#   CUDA 12 + cuDNN 9, and 1.27+ for CUDA 13 + cuDNN 9. Only the host's NVIDIA driver has to be recent enough
#   (CUDA 12: driver >= 525; CUDA 13: driver >= 580). The NVIDIA Container Toolkit mounts the driver at run time.
# - Python 3.11 comes from the official image instead of a PPA on Ubuntu, and the result is smaller than
#   nvidia/cuda:12.x-cudnn-runtime (~3.5 GB before Python) because only the libraries onnxruntime loads are present.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# One unprivileged account for every image; the UID is fixed so that Kubernetes' runAsUser and volume ownership
# can name it.
RUN groupadd --system --gid 10001 posecast \
    && useradd --system --uid 10001 --gid posecast --home-dir /app --shell /usr/sbin/nologin posecast

# The project's source, and nothing else (.dockerignore keeps the rest of the context small).
FROM base AS source
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models/ models/
COPY training/ training/
COPY evaluation/ evaluation/
COPY service/ service/
COPY modelcard/ modelcard/
COPY cli/ cli/

# Build stages install into a virtual environment that the runtime stages copy whole: no compiler, pip cache or
# source tree reaches them. Each installs exactly one lock from requirements/ (make lock), pip and setuptools
# included, before the source arrives (a code change reuses the dependency layer), then posecast with no
# dependencies of its own.
FROM base AS build-cpu
COPY requirements/serve-cpu.txt /tmp/lock.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/lock.txt
COPY --from=source /src /src
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src

FROM base AS build-gpu
# serve-gpu keeps the serving image on CUDA 12 / cuDNN 9 (the widest range of host drivers). For CUDA 13 hosts
# (driver >= 580) build with --build-arg GPU_LOCK=serve-gpu-cuda13.
ARG GPU_LOCK=serve-gpu
COPY requirements/${GPU_LOCK}.txt /tmp/lock.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/lock.txt
COPY --from=source /src /src
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src

FROM base AS build-train
# PyPI's CUDA build of torch (CUDA 13) with onnxruntime-gpu on the same CUDA major, so one set of NVIDIA wheels
# serves both (requirements/train-gpu.txt).
COPY requirements/train-gpu.txt /tmp/lock.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/lock.txt
COPY --from=source /src /src
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src

# Everything the two serving images share: the account, the health check, the demo repository, the settings.
# Configuration is only ever POSECAST_* environment variables; these are the container's defaults.
FROM base AS runtime-base
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/posecast-healthcheck
# Owned by root and read-only for the server: models change through a mounted repository, not the image.
COPY model_repository/ /app/model_repository/
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    POSECAST_HOST=0.0.0.0 \
    POSECAST_PORT=8000 \
    POSECAST_REPOSITORY=/app/model_repository \
    POSECAST_LOG_FORMAT=json
EXPOSE 8000
# Polls readiness, not liveness: a container is healthy once its models are loaded and warmed up.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 CMD ["posecast-healthcheck"]
STOPSIGNAL SIGTERM

FROM runtime-base AS runtime-cpu
COPY --from=build-cpu /opt/venv /opt/venv
USER 10001:10001
# Exec form, no shell in between: the server is PID 1 and receives SIGTERM itself, so it drains queued and
# in-flight requests for POSECAST_GRACE_PERIOD_S (30 s) before exiting. Give the engine a longer stop timeout
# (compose stop_grace_period, Kubernetes terminationGracePeriodSeconds) than that.
ENTRYPOINT ["python", "-m", "service"]

FROM base AS train
COPY --from=build-train /opt/venv /opt/venv
# Checkpoints and logs go to /workspace/runs (a volume); the repository is mounted at /models. Compose runs this
# stage as the host user so that files written into the bind-mounted repository belong to them, hence the
# world-writable scratch directories and a HOME and cache location that any UID can use.
WORKDIR /workspace
COPY configs/ configs/
RUN mkdir -p /workspace/runs /workspace/checkpoints \
    && chmod 1777 /workspace /workspace/runs /workspace/checkpoints
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/workspace \
    XDG_CACHE_HOME=/tmp/.cache \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

# Last stage, so that a plain `docker build .` produces the GPU serving image.
FROM runtime-base AS runtime-gpu
COPY --from=build-gpu /opt/venv /opt/venv
# The NVIDIA wheels keep their libraries under site-packages/nvidia/*/lib, which is not on the loader path.
# Registering every such directory with ldconfig lets onnxruntime's CUDA provider dlopen cuDNN/cuBLAS/cudart
# whatever the wheels' directory layout for the CUDA major in use, with no hard-coded LD_LIBRARY_PATH.
RUN find /opt/venv/lib -path "*/site-packages/nvidia/*" -name "lib*.so*" -printf "%h\n" \
        > /etc/ld.so.conf.d/posecast-nvidia.conf \
    && sort -u -o /etc/ld.so.conf.d/posecast-nvidia.conf /etc/ld.so.conf.d/posecast-nvidia.conf \
    && ldconfig
# What the NVIDIA Container Toolkit should mount: the CUDA driver library and nvidia-smi. Which GPUs are visible is
# decided by the runtime (compose's device reservation, Kubernetes' nvidia.com/gpu), not baked into the image.
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
ENTRYPOINT ["python", "-m", "service"]
