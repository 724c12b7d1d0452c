/**
 * The ONNX Runtime layer for one architecture: onnxruntime-node and onnxruntime-common in
 * `nodejs/node_modules`, with only that architecture's Linux binaries. Built locally (no Docker)
 * at synth time by `layers/onnxruntime/build.ts`, which caches the result under
 * `layers/onnxruntime/build/<architecture>/`; see that file for what is left out and why.
 */
import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { buildOnnxRuntimeLayer, formatMb, type LayerArchitecture } from '../layers/onnxruntime/build.js';

/** The one Lambda runtime the functions and the layer are built for. */
export const NODE_RUNTIME = Runtime.NODEJS_22_X;

export function lambdaArchitecture(name: LayerArchitecture): Architecture {
  return name === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64;
}

export interface OnnxRuntimeLayerProps {
  /** The only architecture the layer's binaries (and so its functions) run on. */
  readonly architecture: LayerArchitecture;
  /** Build folder. @default `layers/onnxruntime/build/<architecture>` */
  readonly buildDir?: string;
}

/**
 * @example
 * const layer = new OnnxRuntimeLayer(this, 'OrtArm64', { architecture: 'arm64' });
 * new lambda.Function(this, 'Fn', { architecture: layer.architecture, layers: [layer.layer], ... });
 */
export class OnnxRuntimeLayer extends Construct {
  readonly layer: LayerVersion;
  readonly architectureName: LayerArchitecture;
  readonly architecture: Architecture;
  /** The layer's size once Lambda unpacks it into `/opt`. */
  readonly unzippedBytes: number;

  constructor(scope: Construct, id: string, props: OnnxRuntimeLayerProps) {
    super(scope, id);
    this.architectureName = props.architecture;
    this.architecture = lambdaArchitecture(props.architecture);
    const build = buildOnnxRuntimeLayer({
      architecture: props.architecture,
      ...(props.buildDir ? { outDir: props.buildDir } : {}),
    });
    this.unzippedBytes = build.unzippedBytes;
    const version = build.packages['onnxruntime-node'] ?? 'unknown';
    this.layer = new LayerVersion(this, 'Layer', {
      code: Code.fromAsset(build.contentDir),
      compatibleArchitectures: [this.architecture],
      compatibleRuntimes: [NODE_RUNTIME],
      description: `onnxruntime-node ${version}, linux ${props.architecture} binaries only`,
      license: 'MIT',
      // Published versions in use by older function versions must outlive a stack update.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Annotations.of(this).addInfo(
      `onnxruntime layer (${props.architecture}): ${formatMb(build.unzippedBytes)} unzipped, ${build.files} files`,
    );
  }
}
