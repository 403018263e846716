using System.Buffers;
using System.Numerics.Tensors;
using BottleneckPipeline.Head;
using Microsoft.ML.OnnxRuntime;

namespace BottleneckPipeline.Training;

/// <summary>The loss of one batch, and the probabilities it gave each example (row-major [N, K]).</summary>
public sealed record BatchResult(float Loss, float[] Probabilities);

/// <summary>
/// Runs a float32 <see cref="TrainingGraph"/>: one ONNX Runtime session for every step. All weights
/// live in one flat array that the graph reads in place (its inputs are views of it) and the
/// optimizer updates in place; the gradients are written by the graph straight into a second flat
/// array. A forward-only graph of the same region, when given, scores batches with the same weights.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private readonly InferenceSession _step;
    private readonly InferenceSession? _forward;
    private readonly TrainingGraph _graph;
    private readonly float[] _gradients;
    private readonly float[]? _partGradients;
    private readonly OrtValue[] _weightValues;
    private readonly OrtValue[] _gradientValues;
    private readonly OrtValue[]? _partGradientValues;
    private readonly Dictionary<string, (int Offset, int Count)> _layout = new(StringComparer.Ordinal);
    private readonly RunOptions _runOptions = new();
    private readonly int _classes;

    /// <summary>Every trainable weight, flat, in <see cref="TrainingGraph.Parameters"/> order.</summary>
    public float[] Weights { get; }
    /// <summary>Weights per range of the update: 32 K floats, so a range's weights, gradient, anchor and optimizer state
    /// stay in a core's L2 cache through every pass.</summary>
    private const int UpdateRange = 1 << 15;
    public Optimizer Optimizer { get; }
    public IReadOnlyList<TrainableParameter> Parameters => _graph.Parameters;
    /// <summary>The most examples one graph run takes (0: a whole batch). A larger batch runs in parts whose gradients are
    /// summed, each weighted by its share of the batch: the same mean loss and gradient, with the activations the
    /// backward pass keeps held for one part at a time.</summary>
    public int MicroBatch { get; }

    private TrainingSession(TrainingGraph step, TrainingGraph? forward, float[] headWeights, float[] headBias, Func<int, Optimizer> optimizer, int threads,
        int microBatch)
    {
        if (microBatch < 0) throw new ArgumentOutOfRangeException(nameof(microBatch), "a micro-batch is 0 (off) or a number of examples");
        MicroBatch = microBatch;
        if (!step.HasBackward) throw new ArgumentException("the step graph was built without a backward pass");
        if (step.ElementType != OnnxTensorData.Float) throw new ArgumentException("training sessions run float32 graphs");
        _graph = step;
        var total = 0L;
        foreach (var p in step.Parameters)
        {
            _layout[p.Name] = ((int)total, (int)p.ElementCount);
            total += p.ElementCount;
        }
        if (total > Array.MaxLength) throw new ArgumentException($"{total} trainable weights do not fit one array");
        Weights = GC.AllocateUninitializedArray<float>((int)total, pinned: true);
        _gradients = GC.AllocateUninitializedArray<float>((int)total, pinned: true);
        foreach (var p in step.Parameters)
        {
            var values = p.Name switch
            {
                SoftmaxCrossEntropy.HeadWeight => headWeights,
                SoftmaxCrossEntropy.HeadBias => headBias,
                _ => OnnxTensorData.ReadFloats(step.InitialValues[p.Name]),
            };
            if (values.Length != p.ElementCount)
                throw new ArgumentException($"'{p.Name}' has {values.Length} values, the graph expects {p.ElementCount} ([{string.Join(", ", p.Shape)}])");
            values.CopyTo(Weights.AsSpan(_layout[p.Name].Offset));
        }
        _classes = (int)step.Parameters.Single(p => p.Name == SoftmaxCrossEntropy.HeadBias).Shape[0];
        _weightValues = [.. step.Parameters.Select(p => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
            Weights.AsMemory(_layout[p.Name].Offset, _layout[p.Name].Count), p.Shape))];
        _gradientValues = [.. step.Parameters.Select(p => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
            _gradients.AsMemory(_layout[p.Name].Offset, _layout[p.Name].Count), p.Shape))];
        if (microBatch > 0)
        {
            _partGradients = GC.AllocateUninitializedArray<float>((int)total, pinned: true);
            _partGradientValues = [.. step.Parameters.Select(p => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                _partGradients.AsMemory(_layout[p.Name].Offset, _layout[p.Name].Count), p.Shape))];
        }
        using var options = SessionOptions(threads);
        _step = new InferenceSession(step.Model, options);
        if (forward is not null) _forward = new InferenceSession(forward.Model, options);
        Optimizer = optimizer((int)total);
    }

    /// <param name="step">A float32 graph built with a backward pass and a <see cref="SoftmaxCrossEntropy"/> loss.</param>
    /// <param name="forward">The same region built without a backward pass, for <see cref="Score"/>; optional.</param>
    /// <param name="head">The head to start from (TrainHead's), [K, D] weights and [K] bias.</param>
    /// <param name="optimizer">Makes the optimizer for the flat weight count.</param>
    /// <param name="threads">Intra-op threads; 0 means one per core.</param>
    /// <param name="microBatch">The most examples one graph run takes; 0 runs every batch whole (see <see cref="MicroBatch"/>).</param>
    public static TrainingSession Create(TrainingGraph step, TrainingGraph? forward, SoftmaxHead head, Func<int, Optimizer> optimizer, int threads = 0,
        int microBatch = 0) =>
        new(step, forward, head.Weights, head.Bias, optimizer, threads, microBatch);

    /// <summary>The current values of one weight (a view into <see cref="Weights"/>).</summary>
    public Span<float> WeightsOf(string name) => Weights.AsSpan(_layout[name].Offset, _layout[name].Count);

    /// <summary>The gradient of one weight from the last step (a view).</summary>
    public ReadOnlySpan<float> GradientOf(string name) => _gradients.AsSpan(_layout[name].Offset, _layout[name].Count);

    /// <summary>
    /// One step: the loss and gradients of a batch of cut activations [N, ...] against target rows
    /// [N, K], then L2 weight decay (added to the gradient), the optional pull toward
    /// <paramref name="anchor"/> (L2-SP: strength x (w - anchor) added too) and the optimizer's update.
    /// </summary>
    public BatchResult Step(float[] activations, float[] targets, int batch, float weightDecay = 0f, float[]? anchor = null, float anchorStrength = 0f)
    {
        // The ranges below read the anchor by offset: one of another length is refused, as whole passes over it were.
        if (anchor is not null && anchor.Length != Weights.Length)
            throw new ArgumentException($"the anchor has {anchor.Length} values, the weights {Weights.Length}", nameof(anchor));
        var result = Run(_step, activations, targets, batch, withGradients: true);
        Optimizer.BeginStep();
        // The update runs element by element, so it runs in cache-sized ranges, every pass over a range before the next
        // range and the ranges on every core: the same bits as whole passes over the tens of megabytes of weights, at
        // about one pass's memory traffic instead of five.
        var ranges = (Weights.Length + UpdateRange - 1) / UpdateRange;
        Parallel.For(0, ranges, r =>
        {
            var start = r * UpdateRange;
            var length = Math.Min(UpdateRange, Weights.Length - start);
            var w = Weights.AsSpan(start, length);
            var g = _gradients.AsSpan(start, length);
            if (weightDecay != 0f) TensorPrimitives.MultiplyAdd(w, weightDecay, g, g);
            if (anchor is not null && anchorStrength != 0f)
            {
                // gradient += s (w - anchor), through a range-sized scratch row (not one the weights' length)
                var scratch = ArrayPool<float>.Shared.Rent(length);
                var pull = scratch.AsSpan(0, length);
                TensorPrimitives.Subtract(w, anchor.AsSpan(start, length), pull);
                TensorPrimitives.MultiplyAdd(pull, anchorStrength, g, g);
                ArrayPool<float>.Shared.Return(scratch);
            }
            Optimizer.Update(Weights, _gradients, start, length);
        });
        return result;
    }

    /// <summary>Loss and gradients of a batch without updating the weights (for checks).</summary>
    public BatchResult Gradients(float[] activations, float[] targets, int batch) => Run(_step, activations, targets, batch, withGradients: true);

    /// <summary>Loss and probabilities of a batch with the current weights, through the forward-only graph.</summary>
    public BatchResult Score(float[] activations, float[] targets, int batch) =>
        Run(_forward ?? throw new InvalidOperationException("no forward graph was given"), activations, targets, batch, withGradients: false);

    private BatchResult Run(InferenceSession session, float[] activations, float[] targets, int batch, bool withGradients)
    {
        var perExample = (int)_graph.InputShape.Skip(1).Aggregate(1L, (p, d) => p * d);
        if (activations.Length < batch * perExample) throw new ArgumentException($"{activations.Length} activations for {batch} examples of {perExample}");
        if (targets.Length < batch * _classes) throw new ArgumentException($"{targets.Length} targets for {batch} examples of {_classes} classes");
        var probabilities = new float[batch * _classes];
        if (MicroBatch == 0 || batch <= MicroBatch)
        {
            var whole = RunPart(session, activations.AsMemory(0, batch * perExample), targets.AsMemory(0, batch * _classes),
                probabilities.AsMemory(), batch, withGradients ? _gradientValues : null);
            return new BatchResult(whole, probabilities);
        }
        // Parts in a fixed order, each weighted by its share: the batch's mean loss and gradient, bitwise the same run to run.
        var loss = 0f;
        if (withGradients) Array.Clear(_gradients);
        for (var start = 0; start < batch; start += MicroBatch)
        {
            var size = Math.Min(MicroBatch, batch - start);
            var share = (float)size / batch;
            var partLoss = RunPart(session, activations.AsMemory(start * perExample, size * perExample), targets.AsMemory(start * _classes, size * _classes),
                probabilities.AsMemory(start * _classes, size * _classes), size, withGradients ? _partGradientValues : null);
            loss += share * partLoss;
            if (withGradients) TensorPrimitives.MultiplyAdd(_partGradients!, share, _gradients, _gradients);
        }
        return new BatchResult(loss, probabilities);
    }

    /// <summary>One graph run over examples; writes their probabilities and, when given gradient values, the gradients.</summary>
    private float RunPart(InferenceSession session, Memory<float> activations, Memory<float> targets, Memory<float> probabilities, int batch,
        OrtValue[]? gradientValues)
    {
        var inputShape = _graph.InputShape.ToArray();
        inputShape[0] = batch;
        var loss = new float[1];
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, activations, inputShape);
        using var target = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, targets, [batch, _classes]);
        using var lossValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, loss.AsMemory(), []);
        using var probabilityValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, probabilities, [batch, _classes]);
        var inputNames = new List<string>(_graph.Parameters.Count + 2) { _graph.Input, _graph.Targets };
        var inputValues = new List<OrtValue>(_graph.Parameters.Count + 2) { input, target };
        inputNames.AddRange(_graph.Parameters.Select(p => p.Name));
        inputValues.AddRange(_weightValues);
        var outputNames = new List<string> { _graph.Loss, _graph.Probabilities! };
        var outputValues = new List<OrtValue> { lossValue, probabilityValue };
        if (gradientValues is not null)
        {
            outputNames.AddRange(_graph.Parameters.Select(p => p.GradientName));
            outputValues.AddRange(gradientValues);
            session.Run(_runOptions, inputNames, inputValues, outputNames, outputValues);
        }
        else
        {
            // The forward graph has its own output names for loss and probabilities.
            var meta = session.OutputNames;
            session.Run(_runOptions, inputNames, inputValues, meta, [lossValue, probabilityValue]);
        }
        // The sessions, weight values and run options are handed to native code as bare handles:
        // keep their owner reachable until the run is over, or a GC could finalize them mid-run.
        GC.KeepAlive(this);
        return loss[0];
    }

    private static SessionOptions SessionOptions(int threads)
    {
        var o = new SessionOptions
        {
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return o;
    }

    public void Dispose()
    {
        foreach (var v in _weightValues) v.Dispose();
        foreach (var v in _gradientValues) v.Dispose();
        foreach (var v in _partGradientValues ?? []) v.Dispose();
        _step.Dispose();
        _forward?.Dispose();
        _runOptions.Dispose();
    }
}
