

namespace BottleneckPipeline.Config;

// The whole of pipeline.yaml. Property names map to snake_case keys; every property's initial
// value is that key's default, and its [Doc] text is what pipeline.yaml and the README document.

public sealed class PipelineConfig
{
    [Doc("Image folder: one subfolder per class.")]
    public DatasetConfig Dataset { get; set; } = new();

    [Doc("Folder for the index, reports and the head. Relative to the config file.")]
    public string Workspace { get; set; } = "workspace";

    public CacheConfig Cache { get; set; } = new();
    public BackboneConfig Backbone { get; set; } = new();
    public ExtractConfig Extract { get; set; } = new();
    public TrainHeadConfig TrainHead { get; set; } = new();
    public EvaluateConfig Evaluate { get; set; } = new();

    /// <summary>Absolute path of the config file this was loaded from (not a key).</summary>
    [NotAKey] public string SourcePath { get; set; } = "";

    /// <summary>SHA-256 of each top-level section's canonical form, for provenance and staleness.</summary>
    [NotAKey] public IReadOnlyDictionary<string, string> SectionHashes { get; set; } = new Dictionary<string, string>();

    [NotAKey] public string WorkspaceDir => Workspace;
    [NotAKey] public string IndexPath => Path.Combine(Workspace, "index.sqlite");
    [NotAKey] public string ReportsDir => Path.Combine(Workspace, "reports");
    [NotAKey] public string CacheDir => Cache.Dir ?? Path.Combine(Workspace, "cache");
}

public sealed class DatasetConfig
{
    [Doc("Folder of class subfolders (required). Relative to the config file."), RelativePath]
    public string Root { get; set; } = "";

    [Doc("Percent of each class held out for validation."), Range(0, 90)]
    public double ValidationPercent { get; set; } = 10;

    [Doc("Percent of each class held out for test."), Range(0, 90)]
    public double TestPercent { get; set; } = 10;

    [Doc("Images with more pixels than this are rejected before decoding."), Range(1, 2_000_000_000)]
    public long MaxPixels { get; set; } = 50_000_000;

    [Doc("Optional regex over the relative path; its first group (or whole match) names a group that stays in one split, like retrain.py's _nohash_.")]
    public string? GroupPattern { get; set; }

    [Doc("Train on images whose bytes appear under two classes (label conflicts). Off by default.")]
    public bool IncludeConflicts { get; set; } = false;

    [Doc("Salt mixed into the split hash: change it to draw a different split.")]
    public string SplitSalt { get; set; } = "";
}

public sealed class CacheConfig
{
    [Doc("Bottleneck cache folder, shareable by several workspaces. Default: <workspace>/cache."), RelativePath]
    public string? Dir { get; set; }

    [Doc("Stored precision of bottleneck vectors: float32 or float16.")]
    public VectorPrecision Precision { get; set; } = VectorPrecision.Float32;
}

public enum VectorPrecision { Float32, Float16 }

public sealed class BackboneConfig
{
    [Doc("resnet18 (embedded), inception-v3 (needs onnx) or custom (needs onnx and the settings below).")]
    public BackboneName Name { get; set; } = BackboneName.Resnet18;

    [Doc("Path of a user-supplied ONNX model. Relative to the config file."), RelativePath]
    public string? Onnx { get; set; }

    [Doc("Square input size in pixels. Default: the model's own (224 for resnet18, 299 for inception-v3)."), Range(8, 4096)]
    public int? InputSize { get; set; }

    [Doc("Input tensor layout: nchw or nhwc. Default: nchw.")]
    public TensorLayout? Layout { get; set; }

    [Doc("Pixel normalization: imagenet (mean/std), inception ([-1, 1]), caffe-bgr (ResNet18 package), or custom (mean and std below).")]
    public NormalizationPreset? Normalization { get; set; }

    [Doc("Per-channel RGB mean, on the 0..1 scale, for normalization: custom.")]
    public List<double>? Mean { get; set; }

    [Doc("Per-channel RGB std, on the 0..1 scale, for normalization: custom.")]
    public List<double>? Std { get; set; }

    [Doc("Name of the bottleneck tensor. Default: found automatically (input of the final classifier Gemm/MatMul, else the graph output).")]
    public string? Bottleneck { get; set; }
}

public enum BackboneName { Resnet18, InceptionV3, Custom }
public enum TensorLayout { Nchw, Nhwc }
public enum NormalizationPreset { Imagenet, Inception, CaffeBgr, Custom }

public sealed class ExtractConfig
{
    [Doc("How images become the square input: stretch (retrain.py's way) or center-crop.")]
    public ResizeMode Resize { get; set; } = ResizeMode.Stretch;

    [Doc("Images per inference call, where the model allows batching."), Range(1, 256), SpeedOnly]
    public int BatchSize { get; set; } = 8;

    [Doc("Inference sessions run side by side, each on its own batches. 0: one per core, at most 4."), Range(0, 64), SpeedOnly]
    public int Sessions { get; set; } = 0;

    [Doc("ONNX Runtime intra-op threads per session. 0: the cores shared out among the sessions."), Range(0, 256), SpeedOnly]
    public int Threads { get; set; } = 0;

    [Doc("Decode and resize worker threads. 0: automatic."), Range(0, 256), SpeedOnly]
    public int DecodeWorkers { get; set; } = 0;
}

public enum ResizeMode { Stretch, CenterCrop }

public sealed class TrainHeadConfig
{
    [Doc("sgd (with momentum), rmsprop or adam.")]
    public OptimizerName Optimizer { get; set; } = OptimizerName.Adam;

    [Doc("Learning rate."), Range(1e-8, 10)]
    public double LearningRate { get; set; } = 0.001;

    [Doc("Momentum for sgd; decay rate for rmsprop."), Range(0, 0.9999)]
    public double Momentum { get; set; } = 0.9;

    [Doc("Training steps (mini-batches). Ignored when epochs is set."), Range(1, 10_000_000)]
    public int Steps { get; set; } = 2000;

    [Doc("Epochs over the train split; overrides steps when set."), Range(1, 100_000)]
    public int? Epochs { get; set; }

    [Doc("Mini-batch size."), Range(1, 65536)]
    public int BatchSize { get; set; } = 64;

    [Doc("L2 penalty on the weights."), Range(0, 10)]
    public double L2 { get; set; } = 1e-4;

    [Doc("Label smoothing in [0, 1)."), Range(0, 0.999)]
    public double LabelSmoothing { get; set; } = 0.0;

    [Doc("Sample classes uniformly (retrain.py's way) instead of images uniformly.")]
    public bool ClassBalanced { get; set; } = false;

    [Doc("Seed for initialisation and sampling.")]
    public int Seed { get; set; } = 42;

    [Doc("Evaluate on validation every this many steps."), Range(1, 1_000_000)]
    public int EvalInterval { get; set; } = 50;

    [Doc("Stop after this many evaluations without a better validation loss; 0 turns early stopping off. The best checkpoint is kept."), Range(0, 1_000_000)]
    public int Patience { get; set; } = 10;
}

public enum OptimizerName { Sgd, Rmsprop, Adam }

public sealed class EvaluateConfig
{
    [Doc("k for top-k accuracy and for predict's output."), Range(1, 100)]
    public int TopK { get; set; } = 3;

    [Doc("Export backbone + head + softmax as one ONNX file and check it against the cached path.")]
    public bool Export { get; set; } = true;
}
