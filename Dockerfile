# Ferry: the `ferry` CLI on Node 22, as a one-shot job image (no HEALTHCHECK: a pipeline run exits).
#   docker build -t ferry:local --build-arg NPM_REGISTRY="$(npm config get registry)" .
#   docker run --rm -v "$PWD/examples/teams:/config:ro" -e DBT_CLOUD_API_TOKEN ferry:local run /config/duckdb.yaml
# Build arguments (both optional, read from the host by scripts/ci-containers.sh; nothing is written here):
#   NPM_REGISTRY  the npm registry to install from (the host's `npm config get registry`)
#   NPM_CA        extra PEM certificates the registry's TLS chain needs (a TLS-inspecting proxy's CA)
# Written for the classic builder too (docker.io 20.10 without BuildKit): no cache mounts, no heredocs.

# ---- build: install with the lockfile, compile the CLI and its workspace dependencies, deploy prod files
FROM node:22-bookworm-slim AS build
# marks this stage's (untagged) images, so scripts/ci-containers.sh can prune superseded ones
LABEL dev.ferry.stage=build
ARG NPM_REGISTRY=""
ARG NPM_CA=""
ENV CI=true \
    NODE_EXTRA_CA_CERTS=/usr/local/share/npm-build-ca.pem \
    PNPM_HOME=/pnpm \
    PATH=/pnpm:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The CA file lives in this stage only; without NPM_CA it repeats the system bundle (harmless).
RUN if [ -n "$NPM_CA" ]; then printf '%s\n' "$NPM_CA"; else cat /etc/ssl/certs/ca-certificates.crt; fi > "$NODE_EXTRA_CA_CERTS" \
 && if [ -n "$NPM_REGISTRY" ]; then npm config set registry "$NPM_REGISTRY"; fi \
 && npm install -g --no-audit --no-fund pnpm@10 \
 && pnpm --version
WORKDIR /src
# manifests first: the dependency layer is reused until a package.json or the lockfile changes
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc tsconfig.base.json ./
COPY packages/core/package.json packages/core/
COPY packages/destinations/package.json packages/destinations/
COPY packages/source-dbt-cloud/package.json packages/source-dbt-cloud/
COPY packages/source-rest-api/package.json packages/source-rest-api/
COPY packages/cli/package.json packages/cli/
COPY packages/dashboard/package.json packages/dashboard/
COPY bench/package.json bench/
COPY examples/package.json examples/
# the CLI, its workspace dependencies and the root's build tools (tsc, @types/node); registry from the arg
RUN if [ -n "$NPM_REGISTRY" ]; then export npm_config_registry="$NPM_REGISTRY"; fi \
 && pnpm install --frozen-lockfile --filter "@ferry/cli..." --filter ferry-monorepo
COPY packages/ packages/
# deploy copies each workspace dependency's published files (dist/) into /app/node_modules/@ferry/*;
# source maps and type declarations are not needed to run (about 65 MB)
RUN if [ -n "$NPM_REGISTRY" ]; then export npm_config_registry="$NPM_REGISTRY"; fi \
 && pnpm --filter "@ferry/cli^..." --filter @ferry/cli run build \
 && pnpm --filter @ferry/cli deploy --prod --legacy /app \
 && chmod 0755 /app/dist/bin.js \
 && find /app -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete \
 && test -f /app/node_modules/@ferry/core/dist/index.js \
 && test -f /app/node_modules/@ferry/destinations/package.json \
 && test -f /app/node_modules/@ferry/source-dbt-cloud/package.json \
 && test -f /app/node_modules/@ferry/source-rest-api/package.json

# ---- runtime: Node 22 slim, the deployed CLI only, non-root
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    FERRY_DATA_DIR=/work/.ferry
RUN groupadd --system --gid 10001 ferry \
 && useradd --uid 10001 --gid ferry --home-dir /work --create-home --shell /usr/sbin/nologin ferry
COPY --from=build /app /app
RUN ln -s /app/dist/bin.js /usr/local/bin/ferry
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["ferry"]
CMD ["--help"]
