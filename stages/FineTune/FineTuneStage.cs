using System.Diagnostics;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;
using BottleneckPipeline.TunedNetwork;
using Onnx;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The FineTune stage: from the index's splits, Extract's backbone and TrainHead's head, trains the
/// backbone's last part (fine_tune.trainable) with the head, BatchNorm frozen, and writes the
/// artifact of <see cref="TunedNetworkManifest"/>: the fine-tuned backbone, its head, the manifest last.
/// Up to date (and instant) when the manifest's inputs hash is the current one.
/// </summary>
internal static class FineTuneStage
{
    public static readonly string[] Sections = ["fine_tune"];
    public const string HeadFileName = ArtifactPaths.TunedHeadFile;

    /// <summary>ORT's intra-op threads: one per core. Runs on one machine compare bitwise (the kill test
    /// relies on it); another core count may round differently.</summary>
    private const int Threads = 0;

    /// <summary>
    /// Up to date when the manifest records the current inputs; otherwise prepares (backbone, graphs, examples), clears
    /// the way (the old manifest, the checkpoint to resume from), trains under the progress display (prefix cache, then
    /// epochs), writes the network and reports, and makes the closing line.
    /// </summary>
    public static FineTuneOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        var baseHead = HeadArtifact.Load(ArtifactPaths.Head(config), extract.Fingerprint);
        var inputsHash = TunedNetworkInputsHash.Hash(config.FineTune, baseHead.InputsHash, extract.InputsHash);
        if (UpToDate(config, inputsHash) is { } current)
            return new FineTuneOutcome(true, current, null, UpToDateLine(current));

        var plan = Prepare(config, db, extract, baseHead, inputsHash);
        var summary = new FineTuneSummary
        {
            Trainable = plan.Trainable,
            CutTensor = plan.Region.CutTensor,
            CutShape = plan.Region.CutShape,
            TrainImages = plan.Train.Count,
            ValidationImages = plan.Validation.Count,
        };
        var clock = Stopwatch.StartNew();
        var resumed = ClearForTraining(config, inputsHash);
        var (final, trained) = FineTuneProgress.Run(report => Train(plan, summary, resumed, report, ct));
        ct.ThrowIfCancellationRequested();
        var manifest = WriteArtifacts(plan, summary, final, trained, clock);
        return new FineTuneOutcome(false, manifest, summary, ClosingLine(plan, summary, final));
    }

    /// <summary>The closing line of a run that found the fine-tuned network current.</summary>
    private static string UpToDateLine(TunedNetworkManifest current) =>
        $"FineTune: up to date ({current.Trainable}, validation accuracy {100 * current.ValidationAccuracy:0.0}%)";

    /// <summary>What a run that trains works from, settled before any image is read.</summary>
    /// <param name="Model">The configured backbone's ONNX model, whose trained initializers the written backbone replaces.</param>
    /// <param name="Region">The trainable part and the cut before it; Step and Forward are its training and scoring graphs.</param>
    private sealed record Plan(PipelineConfig Config, BackboneSpec Spec, ModelProto Model, TrainableDepth Depth, string Trainable,
        TrainableRegion Region, TrainingGraph Step, TrainingGraph Forward, HeadArtifact BaseHead, string InputsHash,
        List<FineTuneExample> Train, List<FineTuneExample> Validation);

    /// <summary>
    /// The backbone (it must be the one Extract ran), its trainable region and graphs, and the train and
    /// validation examples: every config or input error surfaces here, before anything on disk changes.
    /// </summary>
    private static Plan Prepare(PipelineConfig config, IndexDb db, ExtractSummary extract, HeadArtifact baseHead, string inputsHash)
    {
        var ft = config.FineTune;
        var spec = BackboneFactory.Resolve(config);
        if (spec.Fingerprint != extract.Fingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {spec.Fingerprint}) is not the one Extract last ran " +
                                     $"({extract.Fingerprint}). Run the pipeline first (make fine-tune runs Extract and TrainHead).");
        var model = LoadModel(spec.ModelPath);
        var depth = Depth(ft.Trainable);
        var trainable = ConfigLoader.ValueName(ft.Trainable);
        var (region, step, forward) = BuildGraphs(config, spec, model, depth, baseHead.LabelNames.Length);

        var labels = baseHead.LabelNames;
        var train = SplitExamples.Of(config, db, "train", labels);
        var validation = SplitExamples.Of(config, db, "validation", labels);
        if (train.Count == 0)
            throw new InputException($"the train split of {db.Path} is empty: nothing to fine-tune on. Run TrainHead first (make train-head), which says why.");
        return new Plan(config, spec, model, depth, trainable, region, step, forward, baseHead, inputsHash, train, validation);
    }

    /// <summary>
    /// Makes way for a new model: the folder exists and a manifest from other inputs is gone (from here on the files it
    /// names are being replaced). Returns the checkpoint to resume from, if one of these inputs survives.
    /// </summary>
    private static TrainingState? ClearForTraining(PipelineConfig config, string inputsHash)
    {
        Directory.CreateDirectory(ArtifactPaths.FineTuneDirectory(config));
        if (File.Exists(ArtifactPaths.TunedManifest(config))) File.Delete(ArtifactPaths.TunedManifest(config));

        // Read before the live progress starts, so its one line about a discarded checkpoint stands on its own.
        var (resumed, discarded) = Checkpoint.TryLoad(ArtifactPaths.FineTuneCheckpoint(config), inputsHash, config.FineTune.Patience, config.Workspace);
        if (discarded is not null) Printable.WriteLine(discarded);
        return resumed;
    }

    /// <summary>
    /// Where the trainable part's input comes from: the image itself when all of the backbone trains (or the cut is the
    /// input), otherwise the frozen prefix's activations, computed into the prefix cache for the views not there yet.
    /// </summary>
    private static (ActivationSource Train, ActivationSource Validation) ActivationSources(Plan plan, FineTuneSummary summary,
        Action<string, int, int, int> report, CancellationToken ct)
    {
        var (config, spec, region, ft) = (plan.Config, plan.Spec, plan.Region, plan.Config.FineTune);
        var tensors = new ViewTensors(spec, config);
        if (plan.Depth == TrainableDepth.All || region.CutTensor == spec.InputName)
            return (new FreshViews(plan.Train, tensors), new FreshViews(plan.Validation, tensors));

        var prefix = spec with { BottleneckTensor = region.CutTensor, Dimension = (int)region.CutShape.Skip(1).Aggregate(1L, (p, d) => p * d) };
        var fingerprint = PrefixCache.Fingerprint(spec.Fingerprint, region.CutTensor, ft.Augment, ft.Seed);
        var wanted = plan.Train.SelectMany(e => Enumerable.Range(0, ft.Augment.Views).Select(v => new ExampleView(e, v)))
            .Concat(plan.Validation.Select(e => new ExampleView(e, 0))).ToList();
        var prefixClock = Stopwatch.StartNew();
        summary.PrefixComputed = PrefixCache.Fill(prefix, tensors, config.CacheDir, fingerprint, wanted,
            (done, total) => report("frozen prefix", done, total, done), ct);
        summary.PrefixReused = wanted.Count - summary.PrefixComputed;
        summary.PrefixSeconds = prefixClock.Elapsed.TotalSeconds;
        summary.PrefixFingerprint = fingerprint;
        summary.PrefixBytesPerView = prefix.Dimension * 2L;
        var cache = PrefixCache.Load(config.CacheDir, fingerprint, wanted);
        return (new CachedActivations(plan.Train, cache, ft.Augment.Views), new CachedActivations(plan.Validation, cache, 1));
    }

    /// <summary>
    /// Scores the warm start, then trains (from the checkpoint when there is one), saving a checkpoint and printing a line
    /// after every epoch. Returns the final state and the best epoch's trained weights by initializer name, the head's included.
    /// </summary>
    private static (TrainingState State, Dictionary<string, float[]> Trained) Train(Plan plan, FineTuneSummary summary, TrainingState? resumed,
        Action<string, int, int, int> report, CancellationToken ct)
    {
        var (ft, baseHead, labels) = (plan.Config.FineTune, plan.BaseHead, plan.BaseHead.LabelNames);
        var (trainSource, validationSource) = ActivationSources(plan, summary, report, ct);

        using var session = TrainingSession.Create(plan.Step, plan.Forward, baseHead.Head,
            n => Optimizer.Create(ft.Optimizer, ft.PeakLearningRate, ft.Momentum, n), Threads, MicroBatching.For(plan.Depth));
        summary.TrainableWeights = session.Weights.LongLength - baseHead.Weights.Length - baseHead.Bias.Length;
        // Building the graphs and sessions left copies of the model's protobuf behind, as large as the
        // model: collected before training starts, they stay out of the run's peak memory (peak_memory_mb).
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
        // The warm start, scored before any step: TrainHead's head on the original backbone.
        (summary.StartValidationLoss, summary.StartValidationAccuracy) = FineTuneTrainer.Score(session, validationSource, ft.BatchSize, labels.Length, ct);
        var checkpointPath = ArtifactPaths.FineTuneCheckpoint(plan.Config);
        var start = ft.L2Sp > 0 ? session.Weights.ToArray() : null; // l2_sp's anchor: the weights before any step
        if (resumed is not null) FineTuneTrainer.Restore(session, resumed);
        summary.ResumedAfterEpoch = resumed?.EpochsDone ?? 0;
        var state = resumed ?? FineTuneTrainer.Start(session, plan.InputsHash, ft.Patience);
        var trainingClock = Stopwatch.StartNew();
        FineTuneTrainer.Train(session, trainSource, validationSource, ft, state, s =>
            {
                Checkpoint.Save(checkpointPath, s);
                FineTuneProgress.WriteLine(EpochLine(s.Log[^1], ft.Epochs));
            },
            p => report($"epoch {p.Epoch}/{p.Epochs}", p.StepsDone, p.StepsPerEpoch, p.ImagesDone), ct, start);
        summary.TrainingSeconds = trainingClock.Elapsed.TotalSeconds;
        state.BestWeights.CopyTo(session.Weights, 0);
        return (state, session.Parameters.ToDictionary(p => p.Name, p => session.WeightsOf(p.Name).ToArray()));
    }

    /// <summary>The line printed after each epoch.</summary>
    internal static string EpochLine(EpochRow r, int epochs) => FormattableString.Invariant(
        $"epoch {r.Epoch}/{epochs}: train loss {r.TrainLoss:0.000} accuracy {100 * r.TrainAccuracy:0.0}%, ") +
        FormattableString.Invariant(
        $"validation loss {r.ValidationLoss:0.000} accuracy {100 * r.ValidationAccuracy:0.0}%, {r.Seconds:0} s ({r.ImagesPerSecond:0.0} img/s)");

    /// <summary>
    /// Writes the trained network in the order that keeps it trustworthy when killed: the backbone, its head, the reports,
    /// the manifest last (its presence vouches for the rest); then deletes the spent checkpoint.
    /// </summary>
    /// <param name="trained">The best epoch's weights by initializer name, the head's included (they are taken out).</param>
    /// <param name="clock">Started when training was set up: the run's seconds in the report.</param>
    private static TunedNetworkManifest WriteArtifacts(Plan plan, FineTuneSummary summary, TrainingState final, Dictionary<string, float[]> trained,
        Stopwatch clock)
    {
        var config = plan.Config;
        var directory = ArtifactPaths.FineTuneDirectory(config);
        var headWeights = trained[SoftmaxCrossEntropy.HeadWeight];
        var headBias = trained[SoftmaxCrossEntropy.HeadBias];
        trained.Remove(SoftmaxCrossEntropy.HeadWeight);
        trained.Remove(SoftmaxCrossEntropy.HeadBias);

        var backbonePath = Path.Combine(directory, TunedBackboneWriter.FileName);
        var backboneSha256 = TunedBackboneWriter.Write(plan.Model, trained, backbonePath);
        var tunedSpec = TunedBackbone.Resolve(config, plan.Spec, backbonePath);
        var best = BestRow(final);
        var head = TunedHead(plan, final, headWeights, headBias, tunedSpec.Fingerprint);
        var headSha256 = head.Save(Path.Combine(directory, HeadFileName));

        summary.Seconds = clock.Elapsed.TotalSeconds;
        summary.PeakMemoryMb = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1 << 20); // VmHWM on Linux
        summary.Log = final.Log;
        summary.BestEpoch = final.BestEpoch;
        summary.StoppedEarly = final.StoppedEarly;
        summary.BackboneFingerprint = tunedSpec.Fingerprint;
        FineTuneReportWriter.Write(config, summary);

        var manifest = new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, TunedBackboneWriter.FileName, HeadFileName, plan.Spec.Fingerprint,
            tunedSpec.Fingerprint, plan.Trainable, plan.InputsHash, final.EpochsDone, best?.ValidationAccuracy ?? double.NaN)
        { BaseHeadInputsHash = plan.BaseHead.InputsHash, BackboneSha256 = backboneSha256, HeadSha256 = headSha256 };
        manifest.Save(config);
        File.Delete(ArtifactPaths.FineTuneCheckpoint(config)); // the manifest now holds the result; the checkpoint is spent
        return manifest;
    }

    /// <summary>The head trained with the backbone, as a head file tied to the fine-tuned backbone's fingerprint, with the best epoch's metrics.</summary>
    private static HeadArtifact TunedHead(Plan plan, TrainingState final, float[] weights, float[] bias, string backboneFingerprint)
    {
        var (ft, baseHead, best) = (plan.Config.FineTune, plan.BaseHead, BestRow(final));
        return new HeadArtifact
        {
            LabelNames = baseHead.LabelNames,
            Dimension = baseHead.Dimension,
            Weights = weights,
            Bias = bias,
            BackboneName = baseHead.BackboneName,
            BackboneFingerprint = backboneFingerprint,
            TrainingConfigJson = HeadArtifact.ConfigJson(ft),
            InputsHash = plan.InputsHash,
            Metrics = new HeadMetrics
            {
                TrainLoss = best?.TrainLoss ?? double.NaN,
                TrainAccuracy = best?.TrainAccuracy ?? double.NaN,
                ValidationLoss = best?.ValidationLoss ?? double.NaN,
                ValidationAccuracy = best?.ValidationAccuracy ?? double.NaN,
                BestStep = best?.Step ?? 0,
                StepsRun = final.Log.Count == 0 ? 0 : final.Log[^1].Step,
                StepsPlanned = ft.Epochs * ((plan.Train.Count + ft.BatchSize - 1) / ft.BatchSize),
                StoppedEarly = final.StoppedEarly,
            },
        };
    }

    /// <summary>The log's row of the best epoch; null when no epoch ran.</summary>
    private static EpochRow? BestRow(TrainingState state) => state.Log.FirstOrDefault(r => r.Epoch == state.BestEpoch);

    /// <summary>The stage's closing line: what trained, on how much, how fast (this run's epochs only), and how it scored against the head alone.</summary>
    private static string ClosingLine(Plan plan, FineTuneSummary summary, TrainingState final)
    {
        var ranNow = final.Log.Where(r => r.Epoch > summary.ResumedAfterEpoch).ToList();
        var rate = ranNow.Count > 0 ? ranNow.Average(r => r.ImagesPerSecond) : 0;
        var accuracy = BestRow(final)?.ValidationAccuracy ?? double.NaN;
        return FormattableString.Invariant(
            $"FineTune: {plan.Trainable} from '{plan.Region.CutTensor}', {plan.Train.Count} train / {plan.Validation.Count} validation images, ") +
            FormattableString.Invariant($"{final.EpochsDone} epochs ({rate:0.0} img/s), best epoch {final.BestEpoch}, ") +
            FormattableString.Invariant($"validation accuracy {100 * accuracy:0.0}% ") +
            FormattableString.Invariant($"(head only {100 * summary.StartValidationAccuracy:0.0}%); {ArtifactPaths.TunedManifest(plan.Config)}");
    }

    /// <summary>The training engine's name for fine_tune.trainable's part of the backbone.</summary>
    internal static TrainableDepth Depth(TrainablePart part) => part switch
    {
        TrainablePart.LastStage => TrainableDepth.LastStage,
        TrainablePart.LastTwoStages => TrainableDepth.LastTwoStages,
        TrainablePart.All => TrainableDepth.All,
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, "not a fine_tune.trainable value"),
    };

    /// <summary>The manifest when it records these inputs and its checksum, and the backbone's and head's checksums it
    /// records, vouch for what is on disk; otherwise null, with one line when something failed its checksum (it is
    /// fine-tuned again, so the advice to re-run FineTune that Evaluate gives about a damaged file does not loop).</summary>
    private static TunedNetworkManifest? UpToDate(PipelineConfig config, string inputsHash)
    {
        try
        {
            if (TunedNetworkManifest.TryLoad(config) is not { } m || m.InputsHash != inputsHash || !File.Exists(FineTuneReportWriter.PathIn(config)))
                return null;
            m.VerifyFiles(config);
            return m;
        }
        catch (DamagedArtifactException e)
        {
            Printable.WriteLine(e.RepairLine("fine-tune", config.Workspace, "fine-tuning again"));
            return null;
        }
    }

    private static ModelProto LoadModel(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>
    /// The trainable region and its step and scoring graphs, built before any image is touched: an op
    /// the engine cannot differentiate is a config error (exit 2) naming it, never a failure mid-epoch.
    /// </summary>
    internal static (TrainableRegion Region, TrainingGraph Step, TrainingGraph Forward) BuildGraphs(PipelineConfig config, BackboneSpec spec, ModelProto model,
        TrainableDepth depth, int classes)
    {
        long[] imageShape = spec.Layout == TensorLayout.Nchw ? [1, 3, spec.InputSize, spec.InputSize] : [1, spec.InputSize, spec.InputSize, 3];
        try
        {
            var stages = BackboneStages.Find(model, spec.InputName, imageShape, spec.BottleneckTensor);
            var region = stages.Region(depth);
            var loss = new SoftmaxCrossEntropy(classes);
            return (region, TrainingGraphBuilder.Build(region, loss), TrainingGraphBuilder.Build(region, loss, backward: false));
        }
        catch (InvalidDataException e)
        {
            throw new ConfigException($"fine_tune.trainable = '{ConfigLoader.ValueName(config.FineTune.Trainable)}' in {config.SourcePath}: " +
                                      $"the backbone {spec.ModelPath} cannot be trained: {e.Message}.");
        }
    }
}
