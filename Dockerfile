# One image for the API, the GPU worker and the one-shot migration (docker-compose.yml).
# TORCH_INDEX picks the torch build: the CUDA 12.8 wheels by default (GPU workers); pass
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu for a CPU-only image.
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    LIKENESS_DATA_DIR=/var/lib/likeness

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md alembic.ini ./
COPY model ./model
COPY policy ./policy
COPY service ./service
COPY training ./training
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /var/lib/likeness likeness \
 && mkdir -p /var/lib/likeness && chown likeness /var/lib/likeness

USER likeness
EXPOSE 8000
CMD ["likeness", "serve", "--host", "0.0.0.0", "--port", "8000"]
