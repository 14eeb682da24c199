'use strict';
// Assembles the SSM Command documents that run builder/scripts/*.sh: two on the builder, and
// the health check on the test instance booted from the new AMI before it is published.
// Plain CommonJS so the Serverless Framework can load it at package time:
//   Content: ${file(builder/documents.cjs):freshInstall}, :update and :healthCheck
//
// aws:runShellScript runs only the runCommand lines, so each document carries the script
// files themselves: the lines write them under /opt/comfyui-ami/ with quoted heredocs and
// then run them with bash.
//
// Parameters use interpolationType ENV_VAR: SSM never splices their values into the shell
// text but exposes them as SSM_ImageUri, SSM_Gpu, ... (SSM Agent 3.3.2746.0 or later), and
// the scripts validate those variables again before running anything. allowedPattern makes
// SSM itself refuse any other value at SendCommand time.
// https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-doc-syntax.html
// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-troubleshooting.html

const fs = require('node:fs');
const path = require('node:path');
const { escapeRegExp } = require('../functions/shared/escape-regexp.cjs');

const SCRIPTS_DIR = path.join(__dirname, 'scripts');
const CONFIG_FILE = path.join(__dirname, '..', 'config', 'pipeline.json');
const INSTALL_DIR = '/opt/comfyui-ami';
const HEREDOC_END = 'COMFYUI_AMI_SCRIPT_END';
// The step's execution timeout: above the 95-minute worst case of a fresh build (builder/
// README.md), below the pipeline's command wait (polling.commandMaxAttempts x 30 s), so SSM
// ends a stuck command before the pipeline stops waiting for it.
const TIMEOUT_SECONDS = '9000';
// The check bounds its own wait (TimeoutSeconds, at most 3600 in the config); this is a backstop.
const HEALTH_CHECK_TIMEOUT_SECONDS = '3900';
const HEALTH_TIMEOUT_PATTERN = '^[1-9][0-9]{0,3}$';
// Command documents are limited to 64 KB of content.
const MAX_CONTENT_BYTES = 64 * 1024;

// Same as REPOSITORY_NAME in functions/shared/config.ts.
const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const REGION_NAME = /^[a-z]{2}(?:-[a-z]+){1,3}-[0-9]{1,2}$/;

// Patterns are written for JavaScript, Java (SSM) and POSIX ERE (bash [[ =~ ]]) alike:
// no \d, no (?:...), no lookarounds.
const REGION_PATTERN = '[a-z]{2}(-[a-z]+){1,3}-[0-9]{1,2}';
const CONTAINER_PORT_PATTERN = '^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';
const DRIVER_BRANCH_PATTERN = '^[0-9]{3,4}$';
// Ubuntu's current server branch; the 570-server packages are transitional ones for it.
const DEFAULT_DRIVER_BRANCH = '580';

const FILES = {
  fresh: ['lib.sh', 'fresh-install.sh', 'comfyui-run.sh', 'comfyui-health.sh', 'update.sh', 'smoke-check.sh', 'finalize.sh', 'seal.sh'],
  incremental: ['lib.sh', 'update.sh', 'smoke-check.sh', 'finalize.sh', 'seal.sh'],
  healthCheck: ['lib.sh', 'health-check.sh'],
};
const STEPS = {
  fresh: ['fresh-install.sh', 'update.sh', 'finalize.sh'],
  incremental: ['update.sh', 'finalize.sh'],
  healthCheck: ['health-check.sh'],
};
const STEP_NAMES = { fresh: 'FreshInstall', incremental: 'Update', healthCheck: 'HealthCheck' };

/** The only ImageUri form accepted: a digest-pinned image of one of the repositories. */
function imageUriPattern(repositories, region) {
  if (!Array.isArray(repositories) || repositories.length === 0) {
    throw new Error('repositories must be a non-empty list of ECR repository names');
  }
  for (const name of repositories) {
    if (typeof name !== 'string' || !REPOSITORY_NAME.test(name)) {
      throw new Error(`repository ${JSON.stringify(name)} is not an ECR repository name`);
    }
  }
  if (region !== undefined && (typeof region !== 'string' || !REGION_NAME.test(region))) {
    throw new Error(`region ${JSON.stringify(region)} is not an AWS region name`);
  }
  const regionPart = region === undefined ? REGION_PATTERN : escapeRegExp(region);
  const repositoryPart = [...new Set(repositories)].map(escapeRegExp).join('|');
  return `^[0-9]{12}\\.dkr\\.ecr\\.${regionPart}\\.amazonaws\\.com/(${repositoryPart})@sha256:[0-9a-f]{64}$`;
}

// Text that SSM or CloudFormation would read as a parameter or dynamic reference, or that
// the Serverless Framework would read as a variable, must not reach the document.
const FORBIDDEN = [
  { test: (line) => line.includes('{{'), why: 'a double opening brace (SSM parameter syntax)' },
  { test: (line) => /\$\{[a-z][a-zA-Z0-9]*[:(]/.test(line), why: 'a lowercase ${name:...} expansion (Serverless variable syntax)' },
  { test: (line) => line === HEREDOC_END, why: `the heredoc terminator ${HEREDOC_END}` },
];

function readScript(name) {
  const text = fs.readFileSync(path.join(SCRIPTS_DIR, name), 'utf8');
  const lines = text.replace(/\n$/, '').split('\n');
  lines.forEach((line, index) => {
    for (const rule of FORBIDDEN) {
      if (rule.test(line)) throw new Error(`builder/scripts/${name}:${index + 1} contains ${rule.why}`);
    }
  });
  return lines;
}

function runCommand(kind, pattern) {
  const lines = [
    '#!/bin/bash',
    `# ComfyUI AMI ${kind === 'healthCheck' ? 'health check' : `${kind} build`}, generated by builder/documents.cjs from builder/scripts/.`,
    '# The document parameters arrive as SSM_* environment variables, never as shell text.',
    'set -eu',
    'umask 022',
    'COMFYUI_AMI_DIR="${COMFYUI_ROOT:-/}"',
    `COMFYUI_AMI_DIR="\${COMFYUI_AMI_DIR%/}${INSTALL_DIR}"`,
    'rm -rf "$COMFYUI_AMI_DIR"',
    'mkdir -p "$COMFYUI_AMI_DIR"',
  ];
  for (const name of FILES[kind]) {
    lines.push(`cat >"$COMFYUI_AMI_DIR/${name}" <<'${HEREDOC_END}'`, ...readScript(name), HEREDOC_END);
  }
  lines.push(
    'chmod 0755 "$COMFYUI_AMI_DIR"/*.sh',
    `COMFYUI_IMAGE_URI_PATTERN='${pattern}'`,
    'export COMFYUI_IMAGE_URI_PATTERN',
    ...STEPS[kind].map((name) => `bash "$COMFYUI_AMI_DIR/${name}"`),
  );
  return lines;
}

function imageParameters(pattern) {
  return {
    ImageUri: {
      type: 'String',
      description: 'Digest-pinned image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<digest>.',
      allowedPattern: pattern,
      interpolationType: 'ENV_VAR',
    },
    Gpu: {
      type: 'String',
      description: 'true: the hosts run the container with all GPUs (NVIDIA driver and container toolkit on the AMI).',
      allowedValues: ['true', 'false'],
      interpolationType: 'ENV_VAR',
    },
    ContainerPort: {
      type: 'String',
      description: 'Port ComfyUI listens on in the container, published on the same host port.',
      allowedPattern: CONTAINER_PORT_PATTERN,
      interpolationType: 'ENV_VAR',
    },
  };
}

function document(kind, description, parameters, pattern) {
  const content = {
    schemaVersion: '2.2',
    description,
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: STEP_NAMES[kind],
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          timeoutSeconds: kind === 'healthCheck' ? HEALTH_CHECK_TIMEOUT_SECONDS : TIMEOUT_SECONDS,
          runCommand: runCommand(kind, pattern),
        },
      },
    ],
  };
  const size = Buffer.byteLength(JSON.stringify(content));
  if (size > MAX_CONTENT_BYTES) {
    throw new Error(`the ${kind} document is ${size} bytes, over the ${MAX_CONTENT_BYTES}-byte SSM limit`);
  }
  return content;
}

/** { fresh, incremental, healthCheck }: the content objects of the three SSM Command documents. */
function buildDocuments({ repositories, region, nvidiaDriverBranch = DEFAULT_DRIVER_BRANCH } = {}) {
  const pattern = imageUriPattern(repositories, region);
  if (typeof nvidiaDriverBranch !== 'string' || !new RegExp(DRIVER_BRANCH_PATTERN).test(nvidiaDriverBranch)) {
    throw new Error(`nvidiaDriverBranch ${JSON.stringify(nvidiaDriverBranch)} is not a driver branch such as 580`);
  }
  return {
    fresh: document(
      'fresh',
      'ComfyUI AMI: turns Ubuntu 22.04 into a ComfyUI host (Docker, ECR credential helper, NVIDIA driver and container toolkit for GPU environments, comfyui.service), pulls and smoke-checks the image, and cleans the instance for imaging.',
      {
        ...imageParameters(pattern),
        NvidiaDriverBranch: {
          type: 'String',
          description: 'NVIDIA server driver branch installed for GPU environments (nvidia:<branch>-server).',
          default: nvidiaDriverBranch,
          allowedPattern: DRIVER_BRANCH_PATTERN,
          interpolationType: 'ENV_VAR',
        },
      },
      pattern,
    ),
    incremental: document(
      'incremental',
      'ComfyUI AMI: on the previous AMI, pulls the new image by digest, smoke-checks it, switches comfyui.service to it, removes the other images, and cleans the instance for imaging.',
      imageParameters(pattern),
      pattern,
    ),
    healthCheck: document(
      'healthCheck',
      'ComfyUI AMI: on a test instance booted from the new AMI, checks that Docker is active, the comfyui container runs exactly the pushed image, nvidia-smi works for GPU environments, and ComfyUI answers HTTP 200 on /system_stats within TimeoutSeconds.',
      {
        ...imageParameters(pattern),
        TimeoutSeconds: {
          type: 'String',
          description: 'Seconds the instance may take, from the start of the check, to run the container and answer HTTP 200.',
          default: '600',
          allowedPattern: HEALTH_TIMEOUT_PATTERN,
          interpolationType: 'ENV_VAR',
        },
      },
      pattern,
    ),
  };
}

function readConfig(file = CONFIG_FILE) {
  let config;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the pipeline config ${file}: ${error.message}`);
  }
  if (!config || !Array.isArray(config.repositories)) {
    throw new Error(`${file}: "repositories" must be a list of ECR repository names`);
  }
  return config;
}

function readConfiguredRepositories(file = CONFIG_FILE) {
  return readConfig(file).repositories;
}

/** The document options config/pipeline.json sets: repositories and the driver branch. */
function configuredOptions(file = CONFIG_FILE) {
  const config = readConfig(file);
  const branch = config.builder?.nvidiaDriverBranch;
  return { repositories: config.repositories, ...(branch === undefined ? {} : { nvidiaDriverBranch: branch }) };
}

// For serverless.yml: ${file(builder/documents.cjs):freshInstall} and :update. osls calls
// them with { resolveVariable, options }; the documents depend only on config/pipeline.json.
async function freshInstall() {
  return buildDocuments(configuredOptions()).fresh;
}

async function update() {
  return buildDocuments(configuredOptions()).incremental;
}

async function healthCheck() {
  return buildDocuments({ repositories: readConfiguredRepositories() }).healthCheck;
}

module.exports = {
  buildDocuments,
  freshInstall,
  update,
  healthCheck,
  imageUriPattern,
  readConfiguredRepositories,
  configuredOptions,
  CONTAINER_PORT_PATTERN,
  TIMEOUT_SECONDS,
  DEFAULT_DRIVER_BRANCH,
  HEALTH_TIMEOUT_PATTERN,
  SCRIPTS_DIR,
  INSTALL_DIR,
};
