# Ferry: the `ferry` CLI on Node 22, as a one-shot job image (no HEALTHCHECK: it runs and exits).
#   docker build -t ferry:local --build-arg NPM_REGISTRY=<your npm mirror, optional> .
#   docker run --rm -v "$PWD/examples/teams:/config:ro" -e DBT_CLOUD_API_TOKEN ferry:local run /config/duckdb.yaml

# ---- build: install with the lockfile, compile the CLI and its workspace dependencies, deploy prod files
FROM node:22-bookworm-slim AS build
ARG NPM_REGISTRY=""
ENV CI=true
RUN if [ -n "$NPM_REGISTRY" ]; then npm config set registry "$NPM_REGISTRY"; fi \
 && npm install -g pnpm@10 \
 && if [ -n "$NPM_REGISTRY" ]; then pnpm config set registry "$NPM_REGISTRY"; fi
WORKDIR /src
# manifests first: the dependency layer is reused until a package.json or the lockfile changes
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json ./
COPY packages/core/package.json packages/core/
COPY packages/destinations/package.json packages/destinations/
COPY packages/source-dbt-cloud/package.json packages/source-dbt-cloud/
COPY packages/cli/package.json packages/cli/
COPY bench/package.json bench/
COPY examples/package.json examples/
RUN pnpm install --frozen-lockfile --filter "@ferry/cli..."
COPY packages/ packages/
RUN pnpm --filter "@ferry/cli..." run build \
 && pnpm --filter @ferry/cli deploy --prod --legacy /app \
 && chmod 0755 /app/dist/bin.js

# ---- runtime: Node 22 slim, the deployed CLI only, non-root
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    FERRY_DATA_DIR=/work/.ferry
RUN groupadd --system --gid 10001 ferry \
 && useradd --system --uid 10001 --gid ferry --home-dir /work --create-home --shell /usr/sbin/nologin ferry
COPY --from=build /app /app
RUN ln -s /app/dist/bin.js /usr/local/bin/ferry
WORKDIR /work
USER ferry
ENTRYPOINT ["ferry"]
CMD ["--help"]
