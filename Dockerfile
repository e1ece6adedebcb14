# syntax=docker/dockerfile:1
# vaultsync controller image: compile TypeScript, then run on a minimal non-root Node 24 runtime.
#
#   docker build -t vaultsync:dev .
#
# The runtime stage is distroless (no shell, no package manager) and runs as uid 65532, which the
# Helm chart's securityContext (runAsNonRoot, readOnlyRootFilesystem) expects.

ARG NODE_VERSION=24

# --- build: all dependencies, tsc -------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only -------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# --- runtime ----------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot
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
