# The image-enforcer container image: `image-enforcer run --server` on Node.js 20.
#
#   docker build -t image-enforcer:0.1.0 .
#   docker run --rm -p 8181:8181 image-enforcer:0.1.0    # bundled policies and sample data
#
# deploy/kubernetes/deployment.yaml runs it with TLS, token authentication and the policies
# from a ConfigMap.

# --- build: compile the TypeScript sources -----------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would compile before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . && test -f dist/src/cli/main.js

# --- runtime: production dependencies, compiled code, bundled policies -------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
COPY policies ./policies
COPY data ./data
# A numeric non-root user, so that Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8181
ENTRYPOINT ["node", "/app/bin/image-enforcer.js"]
CMD ["run", "--server", "--addr=:8181", "/app/policies", "/app/data"]
