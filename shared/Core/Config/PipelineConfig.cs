

namespace BottleneckPipeline.Config;

// The whole of pipeline.yaml. Property names map to snake_case keys; every property's initial
// value is that key's default. pipeline.yaml documents every key (a test checks that it does).

public sealed class PipelineConfig
{
    /// <summary>Image folder: one subfolder per class.</summary>
    public DatasetConfig Dataset { get; set; } = new();

    /// <summary>Folder for the index, reports and the head: a folder of its own, not around dataset.root or the config file. Relative to the config file.</summary>
    public string Workspace { get; set; } = "workspace";

    public CacheConfig Cache { get; set; } = new();
    public BackboneConfig Backbone { get; set; } = new();
    public ExtractConfig Extract { get; set; } = new();
    public TrainHeadConfig TrainHead { get; set; } = new();
    public EvaluateConfig Evaluate { get; set; } = new();
    public FineTuneConfig FineTune { get; set; } = new();

    /// <summary>Absolute path of the config file this was loaded from (not a key).</summary>
    [NotAKey] public string SourcePath { get; set; } = "";

    /// <summary>SHA-256 of each top-level section's canonical form, for provenance and staleness.</summary>
    [NotAKey] public IReadOnlyDictionary<string, string> SectionHashes { get; set; } = new Dictionary<string, string>();

    [NotAKey] public string IndexPath => Path.Combine(Workspace, "index.sqlite");
    [NotAKey] public string ReportsDir => Path.Combine(Workspace, "reports");
    [NotAKey] public string CacheDir => Cache.Dir ?? Path.Combine(Workspace, "cache");
}

public sealed class DatasetConfig
{
    /// <summary>Folder of class subfolders (required). Relative to the config file.</summary>
    public string Root { get; set; } = "";

    /// <summary>Percent of each class held out for validation.</summary>
    [Range(0, 90)]
    public double ValidationPercent { get; set; } = 10;

    /// <summary>Percent of each class held out for test.</summary>
    [Range(0, 90)]
    public double TestPercent { get; set; } = 10;

    /// <summary>Images with more pixels than this are rejected before decoding.</summary>
    [Range(1, 2_000_000_000)]
    public long MaxPixels { get; set; } = 50_000_000;

    /// <summary>Optional regex over the relative path; its first group (or whole match) names a group that stays in one split, like retrain.py's _nohash_.</summary>
    public string? GroupPattern { get; set; }

    /// <summary>Train on images whose bytes appear under two classes (label conflicts). Off by default.</summary>
    public bool IncludeConflicts { get; set; } = false;

    /// <summary>Salt mixed into the split hash: change it to draw a different split.</summary>
    public string SplitSalt { get; set; } = "";
}

public sealed class CacheConfig
{
    /// <summary>Bottleneck cache folder, shareable by several workspaces. Default: &lt;workspace&gt;/cache.</summary>
    public string? Dir { get; set; }

    /// <summary>Stored precision of bottleneck vectors: float32 or float16.</summary>
    public VectorPrecision Precision { get; set; } = VectorPrecision.Float32;
}

public enum VectorPrecision { Float32, Float16 }

public sealed class BackboneConfig
{
    /// <summary>resnet18 (embedded), inception-v3 (needs onnx) or custom (needs onnx and the settings below).</summary>
    public BackboneName Name { get; set; } = BackboneName.Resnet18;

    /// <summary>Path of a user-supplied ONNX model. Relative to the config file.</summary>
    public string? Onnx { get; set; }

    /// <summary>Square input size in pixels. Default: the model's own (224 for resnet18, 299 for inception-v3).</summary>
    [Range(8, 4096)]
    public int? InputSize { get; set; }

    /// <summary>Input tensor layout: nchw or nhwc. Default: read from the model's input shape (nhwc when its last dimension is 3), else nchw.</summary>
    public TensorLayout? Layout { get; set; }

    /// <summary>Pixel normalization: imagenet (mean/std), inception ([-1, 1]), caffe-bgr (ResNet18 package), or custom (mean and std below).</summary>
    public NormalizationPreset? Normalization { get; set; }

    /// <summary>Per-channel RGB mean, on the 0..1 scale, for normalization: custom.</summary>
    public List<double>? Mean { get; set; }

    /// <summary>Per-channel RGB std, on the 0..1 scale, for normalization: custom.</summary>
    public List<double>? Std { get; set; }

    /// <summary>Name of the bottleneck tensor. Default: found automatically (input of the final classifier Gemm/MatMul, else the graph output).</summary>
    public string? Bottleneck { get; set; }

    /// <summary>float32 (the model as it is) or int8: a statically quantized copy (QDQ, per-channel int8 weights), built once and cached in cache.dir/models.</summary>
    public BackbonePrecision Precision { get; set; } = BackbonePrecision.Float32;

    /// <summary>For int8: how many training images (a fixed, seeded sample) calibrate the activation ranges.</summary>
    [Range(1, 100_000)]
    public int CalibrationImages { get; set; } = 200;

    /// <summary>For int8: how activation ranges are drawn from the calibration images: min-max or percentile. percentile (99.999) lost the least validation accuracy on the flowers (README).</summary>
    public CalibrationMethod Calibration { get; set; } = CalibrationMethod.Percentile;

    /// <summary>For int8 with percentile calibration: each activation's range runs from its (100 - p)th to its pth percentile over the calibration images (values beyond are clipped).</summary>
    [Range(90, 100)]
    public double CalibrationPercentile { get; set; } = 99.999;
}

public enum BackboneName { Resnet18, InceptionV3, Custom }
public enum BackbonePrecision { Float32, Int8 }
public enum CalibrationMethod { MinMax, Percentile }
public enum TensorLayout { Nchw, Nhwc }
public enum NormalizationPreset { Imagenet, Inception, CaffeBgr, Custom }

public sealed class ExtractConfig
{
    /// <summary>How images become the square input: stretch (retrain.py's way) or center-crop.</summary>
    public ResizeMode Resize { get; set; } = ResizeMode.Stretch;

    /// <summary>Images per inference call, where the model allows batching.</summary>
    [Range(1, 256), SpeedOnly]
    public int BatchSize { get; set; } = 8;

    /// <summary>Inference lanes run side by side, each on its own batches (concurrent runs of one ONNX Runtime session). 0: one per core, at most 4.</summary>
    [Range(0, 64), SpeedOnly]
    public int Sessions { get; set; } = 0;

    /// <summary>ONNX Runtime intra-op threads per session. 0: the cores shared out among the sessions.</summary>
    [Range(0, 256), SpeedOnly]
    public int Threads { get; set; } = 0;

    /// <summary>Decode and resize worker threads. 0: automatic.</summary>
    [Range(0, 256), SpeedOnly]
    public int DecodeWorkers { get; set; } = 0;

    /// <summary>JPEGs of at least this many pixels are decoded by libvips (shrink-on-load), smaller
    /// images and other formats by ImageSharp. 0: ImageSharp for every image. Part of the fingerprint.
    /// The default is above every flower photo (0.25 MP at most), so small-photo datasets keep the
    /// ImageSharp path and their cached vectors (bench: decode measures the crossover).</summary>
    [Range(0, 1_000_000_000_000)]
    public long LibvipsMinPixels { get; set; } = 1_000_000;
}

public enum ResizeMode { Stretch, CenterCrop }

public sealed class TrainHeadConfig
{
    /// <summary>sgd (with momentum), rmsprop or adam.</summary>
    public OptimizerName Optimizer { get; set; } = OptimizerName.Adam;

    /// <summary>Learning rate.</summary>
    [Range(1e-8, 10)]
    public double LearningRate { get; set; } = 0.001;

    /// <summary>Momentum for sgd; decay rate for rmsprop.</summary>
    [Range(0, 0.9999)]
    public double Momentum { get; set; } = 0.9;

    /// <summary>Training steps (mini-batches). Ignored when epochs is set.</summary>
    [Range(1, 10_000_000)]
    public int Steps { get; set; } = 2000;

    /// <summary>Epochs over the train split; overrides steps when set.</summary>
    [Range(1, 100_000)]
    public int? Epochs { get; set; }

    /// <summary>Mini-batch size.</summary>
    [Range(1, 65536)]
    public int BatchSize { get; set; } = 64;

    /// <summary>L2 penalty on the weights.</summary>
    [Range(0, 10)]
    public double L2 { get; set; } = 1e-4;

    /// <summary>Label smoothing in [0, 1).</summary>
    [Range(0, 0.999)]
    public double LabelSmoothing { get; set; } = 0.0;

    /// <summary>Sample classes uniformly (retrain.py's way) instead of images uniformly.</summary>
    public bool ClassBalanced { get; set; } = false;

    /// <summary>Seed for initialisation and sampling.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Evaluate on validation every this many steps.</summary>
    [Range(1, 1_000_000)]
    public int EvalInterval { get; set; } = 50;

    /// <summary>Stop after this many evaluations without a better validation score (higher accuracy, then lower loss); 0 turns early stopping off. The best checkpoint is kept.</summary>
    [Range(0, 1_000_000)]
    public int Patience { get; set; } = 10;
}

public enum OptimizerName { Sgd, Rmsprop, Adam }

public sealed class EvaluateConfig
{
    /// <summary>k for top-k accuracy and for predict's output.</summary>
    [Range(1, 100)]
    public int TopK { get; set; } = 3;

    /// <summary>Export backbone + head + softmax as one ONNX file and check it against the cached path.</summary>
    public bool Export { get; set; } = true;
}

/// <summary>The optional FineTune stage: trains the backbone's last part together with the head.</summary>
public sealed class FineTuneConfig
{
    /// <summary>Run FineTune in plain `make` (and let Evaluate score the fine-tuned model). `make fine-tune` runs it regardless.</summary>
    public bool Enabled { get; set; } = false;

    /// <summary>How much of the backbone trains: last-stage, last-2-stages or all.</summary>
    public TrainablePart Trainable { get; set; } = TrainablePart.LastStage;

    /// <summary>Passes over the train split.</summary>
    [Range(1, 10_000)]
    public int Epochs { get; set; } = 8;

    /// <summary>Mini-batch size.</summary>
    [Range(1, 1024)]
    public int BatchSize { get; set; } = 32;

    /// <summary>sgd (with momentum), adam or rmsprop.</summary>
    public OptimizerName Optimizer { get; set; } = OptimizerName.Sgd;

    /// <summary>Peak learning rate (the schedule starts here); unset, <see cref="PeakLearningRate"/> picks it by depth.</summary>
    [Range(1e-8, 10)]
    public double? LearningRate { get; set; }

    /// <summary>The peak learning rate a run uses: <see cref="LearningRate"/> where set, else 0.01, or 0.003 with trainable: all
    /// (the rate chosen on validation for each depth; every layer at 0.01 diverged to a NaN loss within the first epoch).</summary>
    [NotAKey] public double PeakLearningRate => LearningRate ?? (Trainable == TrainablePart.All ? 0.003 : 0.01);

    /// <summary>How the learning rate moves per step: cosine (down to 0 at the last step) or constant.</summary>
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.Cosine;

    /// <summary>Epochs over which the learning rate first rises linearly from near 0 to its peak (then the schedule runs over the rest); 0 = none.</summary>
    [Range(0, 10_000)]
    public int WarmupEpochs { get; set; } = 0;

    /// <summary>L2 weight decay, added to every trained weight's gradient.</summary>
    [Range(0, 1)]
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>Momentum for sgd; decay rate for rmsprop.</summary>
    [Range(0, 0.9999)]
    public double Momentum { get; set; } = 0.9;

    /// <summary>Label smoothing in [0, 1) for the training targets (validation is scored against the plain labels).</summary>
    [Range(0, 0.999)]
    public double LabelSmoothing { get; set; } = 0.1;

    /// <summary>L2-SP: every trained weight is pulled toward its starting value (the pretrained backbone, TrainHead's head), l2_sp x (w - w_start) added to its gradient; 0 = off.</summary>
    [Range(0, 1)]
    public double L2Sp { get; set; } = 0.01;

    /// <summary>Seed for the augmented views and the batch order.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Stop after this many epochs without a better validation score (higher accuracy, then lower loss); 0 turns early stopping off. The best epoch is kept.</summary>
    [Range(0, 10_000)]
    public int Patience { get; set; } = 3;

    public AugmentConfig Augment { get; set; } = new();
}

public enum LearningRateSchedule { Cosine, Constant }

/// <summary>The backbone's part FineTune trains with the head, shallowest first.</summary>
public enum TrainablePart { LastStage, [ConfigName("last-2-stages")] LastTwoStages, All }

/// <summary>Training-image augmentation: a fixed number of views per image, drawn from the seed.</summary>
public sealed class AugmentConfig
{
    /// <summary>Mirror a view left-right with probability 1/2.</summary>
    public bool Flip { get; set; } = true;

    /// <summary>Random resized crop: the share of the image's area a crop keeps, [min, max] within (0, 1].</summary>
    public List<double> CropScale { get; set; } = [0.5, 1.0];

    /// <summary>Augmented views cached per train image (view 0 is the plain image); each epoch trains on one of them per image.</summary>
    [Range(1, 64)]
    public int Views { get; set; } = 4;

    /// <summary>As pipeline.yaml would spell it, for one-line displays (the run's provenance).</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{{flip: {(Flip ? "true" : "false")}, crop_scale: [{string.Join(", ", CropScale.Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)))}], views: {Views}}}");
}
