namespace BottleneckPipeline.Config;

// The whole of pipeline.yaml. Property names map to snake_case keys; every property's initial
// value is that key's default, and its [Doc] is its meaning. docs/config-reference.md is generated
// from these definitions (make config-reference; a test fails when it is out of date).

public sealed class PipelineConfig
{
    [Doc("The photos: one subfolder per class, and how they are split into train, validation and test.")]
    public DatasetConfig Dataset { get; set; } = new();

    [Doc("Folder for the index, reports, head, fine-tuned model and exported model.onnx: a folder of its own, " +
         "not dataset.root or inside it, and not the config file's folder or around it. Relative to the config file.")]
    public string Workspace { get; set; } = "workspace";

    [Doc("The bottleneck cache: one vector per photo and backbone, reused by every later run.")]
    public CacheConfig Cache { get; set; } = new();

    [Doc("The pretrained network whose bottleneck vectors the head learns from.")]
    public BackboneConfig Backbone { get; set; } = new();

    [Doc("How Extract turns photos into the backbone's input and runs it.")]
    public ExtractConfig Extract { get; set; } = new();

    [Doc("The new softmax layer trained on the cached vectors (TrainHead).")]
    public TrainHeadConfig TrainHead { get; set; } = new();

    [Doc("Scoring on the test split (Evaluate).")]
    public EvaluateConfig Evaluate { get; set; } = new();

    [Doc("The optional FineTune stage: trains the backbone's last part together with the head.")]
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
    [Doc("Folder of class subfolders (required). Relative to the config file.", Default = "required")]
    public string Root { get; set; } = "";

    [Doc("Percent of each class held out for validation (early stopping and model choice).")]
    [Range(0, 90)]
    public double ValidationPercent { get; set; } = 10;

    [Doc("Percent of each class held out for test (Evaluate). 0 needs evaluate.export: false.")]
    [Range(0, 90)]
    public double TestPercent { get; set; } = 10;

    [Doc("Images with more pixels than this are rejected before decoding.")]
    [Range(1, 2_000_000_000)]
    public long MaxPixels { get; set; } = 50_000_000;

    [Doc("Regex over a photo's relative path; its first group (or the whole match) names a group whose photos stay in one split, " +
         "like retrain.py's `_nohash_` (for example `'^(.*)_nohash_'`). Unset: every photo is its own group.")]
    public string? GroupPattern { get; set; }

    [Doc("Train on photos whose bytes appear under two classes (label conflicts); by default they are left out and reported.")]
    public bool IncludeConflicts { get; set; } = false;

    [Doc("Salt mixed into the split hash: change it to draw another (still deterministic) split.")]
    public string SplitSalt { get; set; } = "";

    [Doc("A file naming images to leave out of training and scoring, one a line: a path relative to dataset.root or a content id " +
         "(the image's SHA-256), '#' starting a comment (evaluation.html's Dataset issues section downloads such a list). " +
         "They stay in the index and keep their cached vectors: TrainHead, Audit, FineTune and Evaluate re-run without them, " +
         "nothing is re-extracted. A line naming no indexed image gets a warning. Relative to the config file.")]
    [HashedByItsStages]
    public string? Exclude { get; set; }
}

public sealed class CacheConfig
{
    [Doc("Bottleneck cache folder, shareable by several workspaces (and by Extract runs on them at once). " +
         "Relative to the config file. Unset: `<workspace>/cache`.")]
    public string? Dir { get; set; }

    [Doc("Stored precision of the vectors: float16 halves the cache on disk (for large datasets); they are read back as float32.")]
    public VectorPrecision Precision { get; set; } = VectorPrecision.Float32;
}

public enum VectorPrecision { Float32, Float16 }

public sealed class BackboneConfig
{
    [Doc("resnet18 (embedded), inception-v3 (needs onnx) or custom (needs onnx, and the settings below where they cannot be read from the model).")]
    public BackboneName Name { get; set; } = BackboneName.Resnet18;

    [Doc("Path of your ONNX model. Relative to the config file.")]
    public string? Onnx { get; set; }

    [Doc("Square input size in pixels. Unset: the model's own (224 for resnet18, 299 for inception-v3).")]
    [Range(8, 4096)]
    public int? InputSize { get; set; }

    [Doc("Input tensor layout. Unset: read from the model's input shape (nhwc when its last dimension is 3), else nchw.")]
    public TensorLayout? Layout { get; set; }

    [Doc("Pixel normalization: imagenet (mean and std), inception ([-1, 1]), caffe-bgr (the ResNet18 package's) " +
         "or custom (mean and std below). Unset: the backbone's own.")]
    public NormalizationPreset? Normalization { get; set; }

    [Doc("Per-channel RGB mean on the 0..1 scale, for normalization: custom (three numbers).")]
    public List<double>? Mean { get; set; }

    [Doc("Per-channel RGB std on the 0..1 scale, for normalization: custom (three numbers, each above 0).")]
    public List<double>? Std { get; set; }

    [Doc("Name of the bottleneck tensor. Unset: found automatically (the input of the final classifier Gemm/MatMul, else the graph output).")]
    public string? Bottleneck { get; set; }

    [Doc("float32 (the model as it is) or int8: a statically quantized copy (per-channel int8 weights), " +
         "built once into cache.dir/models; faster Extract at equal test accuracy on the flowers.")]
    public BackbonePrecision Precision { get; set; } = BackbonePrecision.Float32;

    [Doc("For int8: how many training images (a fixed, seeded sample) calibrate the activation ranges.")]
    [Range(1, 100_000)]
    public int CalibrationImages { get; set; } = 200;

    [Doc("For int8: how activation ranges are drawn from the calibration images. percentile lost the least validation accuracy on the flowers.")]
    public CalibrationMethod Calibration { get; set; } = CalibrationMethod.Percentile;

    [Doc("For int8 with percentile calibration: each activation's range runs from its (100 - p)th to its pth percentile " +
         "over the calibration images; values beyond are clipped.")]
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
    [Doc("How a photo becomes the square input: stretch (retrain.py's way) or center-crop.")]
    public ResizeMode Resize { get; set; } = ResizeMode.Stretch;

    [Doc("Images per inference call, where the model allows batching.")]
    [Range(1, 256), SpeedOnly]
    public int BatchSize { get; set; } = 8;

    [Doc("Inference lanes run side by side, each on its own batches (concurrent runs of one ONNX Runtime session). 0: one per core, at most 4.")]
    [Range(0, 64), SpeedOnly]
    public int Sessions { get; set; } = 0;

    [Doc("ONNX Runtime intra-op threads per session. 0: the cores shared out among the sessions.")]
    [Range(0, 256), SpeedOnly]
    public int Threads { get; set; } = 0;

    [Doc("Decode and resize worker threads. 0: automatic.")]
    [Range(0, 256), SpeedOnly]
    public int DecodeWorkers { get; set; } = 0;

    [Doc("JPEGs of at least this many pixels are decoded by libvips (shrink-on-load, several times faster on camera photos), " +
         "smaller images and other formats by ImageSharp; 0: ImageSharp for every image. Part of the backbone fingerprint: " +
         "the default is above every flower photo, so small-photo datasets keep their cached vectors.")]
    [Range(0, 1_000_000_000_000)]
    public long LibvipsMinPixels { get; set; } = 1_000_000;
}

public enum ResizeMode { Stretch, CenterCrop }

public sealed class TrainHeadConfig
{
    [Doc("sgd (with momentum), rmsprop or adam.")]
    public OptimizerName Optimizer { get; set; } = OptimizerName.Adam;

    [Doc("Learning rate.")]
    [Range(1e-8, 10)]
    public double LearningRate { get; set; } = 0.001;

    [Doc("Momentum for sgd; decay rate for rmsprop.")]
    [Range(0, 0.9999)]
    public double Momentum { get; set; } = 0.9;

    [Doc("Training steps (mini-batches); ignored when epochs is set.")]
    [Range(1, 10_000_000)]
    public int Steps { get; set; } = 2000;

    [Doc("Passes over the train split; overrides steps when set.")]
    [Range(1, 100_000)]
    public int? Epochs { get; set; }

    [Doc("Mini-batch size.")]
    [Range(1, 65536)]
    public int BatchSize { get; set; } = 64;

    [Doc("L2 penalty on the weights.")]
    [Range(0, 10)]
    public double L2 { get; set; } = 1e-4;

    [Doc("Label smoothing s: training targets 1 - s + s/K on the label and s/K elsewhere.")]
    [Range(0, 0.999)]
    public double LabelSmoothing { get; set; } = 0.0;

    [Doc("Sample classes uniformly (retrain.py's way) instead of images uniformly: for imbalanced datasets.")]
    public bool ClassBalanced { get; set; } = false;

    [Doc("Seed for the initial weights and the batch sampling.")]
    public int Seed { get; set; } = 42;

    [Doc("Score the validation split every this many steps.")]
    [Range(1, 1_000_000)]
    public int EvalInterval { get; set; } = 50;

    [Doc("Stop after this many evaluations without a better validation score (higher accuracy, then lower loss); " +
         "0 turns early stopping off. The best step's weights are kept.")]
    [Range(0, 1_000_000)]
    public int Patience { get; set; } = 10;
}

public enum OptimizerName { Sgd, Rmsprop, Adam }

public sealed class EvaluateConfig
{
    [Doc("k for top-k accuracy and for predict's output.")]
    [Range(1, 100)]
    public int TopK { get; set; } = 3;

    [Doc("Write model.onnx (backbone + head + softmax) and check it against the cached path on the test split.")]
    public bool Export { get; set; } = true;

    [Doc("Which model ships as model.onnx when FineTune made one: auto chooses on the validation split (the higher accuracy, " +
         "then the lower loss; a tie ships the head alone); head or fine-tuned forces that one.")]
    public ShipPolicy Ship { get; set; } = ShipPolicy.Auto;
}

public sealed class FineTuneConfig
{
    [Doc("Run FineTune in plain `make` (and let Evaluate score the fine-tuned model). `make fine-tune` runs it regardless.")]
    public bool Enabled { get; set; } = false;

    [Doc("How much of the backbone trains with the head: its last stage, its last two, or all of it (stages are found from the graph).")]
    public TrainablePart Trainable { get; set; } = TrainablePart.LastStage;

    [Doc("Passes over the train split.")]
    [Range(1, 10_000)]
    public int Epochs { get; set; } = 8;

    [Doc("Mini-batch size.")]
    [Range(1, 1024)]
    public int BatchSize { get; set; } = 32;

    [Doc("sgd (with momentum), adam or rmsprop.")]
    public OptimizerName Optimizer { get; set; } = OptimizerName.Sgd;

    [Doc("Peak learning rate (the schedule starts here). Unset: chosen by depth, 0.01, or 0.003 with trainable: all " +
         "(every layer at 0.01 diverged within the first epoch).", Default = "by depth: 0.01, or 0.003 with trainable: all")]
    [Range(1e-8, 10)]
    public double? LearningRate { get; set; }

    /// <summary>The peak learning rate a run uses: <see cref="LearningRate"/> where set, else 0.01, or 0.003 with trainable: all
    /// (the rate chosen on validation for each depth; every layer at 0.01 diverged to a NaN loss within the first epoch).</summary>
    [NotAKey] public double PeakLearningRate => LearningRate ?? (Trainable == TrainablePart.All ? 0.003 : 0.01);

    [Doc("How the learning rate moves per step: cosine (down to 0 at the last step) or constant.")]
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.Cosine;

    [Doc("Epochs over which the learning rate first rises linearly from near 0 to its peak (then the schedule runs over the rest); 0: none.")]
    [Range(0, 10_000)]
    public int WarmupEpochs { get; set; } = 0;

    [Doc("L2 weight decay, added to every trained weight's gradient.")]
    [Range(0, 1)]
    public double WeightDecay { get; set; } = 1e-4;

    [Doc("Momentum for sgd; decay rate for rmsprop.")]
    [Range(0, 0.9999)]
    public double Momentum { get; set; } = 0.9;

    [Doc("Label smoothing s for the training targets (1 - s + s/K on the label, s/K elsewhere); validation is scored on the plain labels.")]
    [Range(0, 0.999)]
    public double LabelSmoothing { get; set; } = 0.1;

    [Doc("L2-SP: every trained weight is pulled toward its starting value (the pretrained backbone, TrainHead's head), " +
         "l2_sp x (w - w_start) added to its gradient; 0: off.")]
    [Range(0, 1)]
    public double L2Sp { get; set; } = 0.01;

    [Doc("Seed for the augmented views and the batch order.")]
    public int Seed { get; set; } = 42;

    [Doc("Stop after this many epochs without a better validation score (higher accuracy, then lower loss); " +
         "0 turns early stopping off. The best epoch's weights are kept.")]
    [Range(0, 10_000)]
    public int Patience { get; set; } = 3;

    [Doc("Training-image augmentation: a fixed number of views per image, drawn from the seed.")]
    public AugmentConfig Augment { get; set; } = new();
}

public enum LearningRateSchedule { Cosine, Constant }

/// <summary>The backbone's part FineTune trains with the head, shallowest first.</summary>
public enum TrainablePart { LastStage, [ConfigName("last-2-stages")] LastTwoStages, All }

public sealed class AugmentConfig
{
    [Doc("Mirror a view left-right with probability 1/2.")]
    public bool Flip { get; set; } = true;

    [Doc("Random resized crop: the share of the image's area a crop keeps, [min, max] with 0 < min <= max <= 1.")]
    public List<double> CropScale { get; set; } = [0.5, 1.0];

    [Doc("Augmented views cached per train image (view 0 is the plain image); each epoch trains on one of them per image.")]
    [Range(1, 64)]
    public int Views { get; set; } = 4;

    /// <summary>As pipeline.yaml would spell it, for one-line displays (the run's provenance).</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{{flip: {(Flip ? "true" : "false")}, " +
        $"crop_scale: [{string.Join(", ", CropScale.Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)))}], views: {Views}}}");
}
