using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using Microsoft.ML.OnnxRuntime;
using DataType = Onnx.TensorProto.Types.DataType;

namespace BottleneckPipeline.Tests.Training;

/// <summary>
/// Checks a training graph's gradients against central finite differences of its forward-only
/// twin: for each trainable weight (and the cut, when asked) it perturbs coordinates by ±h, runs the
/// real forward graph through ONNX Runtime, and compares (L+ - L-) / 2h with the analytic gradient.
/// </summary>
internal static class GradientCheck
{
    /// <summary>Tolerances: float64 where ORT runs every op of the check in float64; float32 otherwise,
    /// with a step of 1e-2 and 1e-2 of the tensor's largest gradient (float32 round-off in the loss,
    /// divided by 2h, is about 1e-3 of it in these graphs).</summary>
    public sealed record Precision(double Step, double RelativeTolerance, double AbsoluteTolerance)
    {
        public static readonly Precision Double = new(1e-6, 1e-6, 1e-9);
        public static readonly Precision Single = new(1e-2, 1e-2, 1e-3);
        public static Precision For(DataType type) => type == DataType.Double ? Double : Single;
    }

    public sealed record Mismatch(string Tensor, long Index, double Analytic, double Numeric);

    public sealed record Report(int Checked, double WorstError, IReadOnlyList<Mismatch> Mismatches, IReadOnlyDictionary<string, double[]> Analytic)
    {
        public void AssertClean() => Assert.True(Mismatches.Count == 0,
            $"{Mismatches.Count} of {Checked} coordinates differ, e.g. " +
            string.Join("; ", Mismatches.Take(6).Select(m => $"{m.Tensor}[{m.Index}] analytic {m.Analytic:G6} numeric {m.Numeric:G6}")));
    }

    /// <param name="region">The region to train (its trainable weights are checked).</param>
    /// <param name="loss">Projection or softmax cross-entropy.</param>
    /// <param name="inputValues">The cut's values; targets or upstream values; head values when the loss has a head.</param>
    /// <param name="checkInput">Also check the gradient of the cut tensor.</param>
    /// <param name="maxPerTensor">At most this many coordinates per tensor (chosen with a fixed seed).</param>
    /// <param name="include">Which tensors to check (all by default).</param>
    public static Report Run(TrainableRegion region, TrainingLoss loss, IReadOnlyDictionary<string, double[]> inputValues, bool checkInput = true,
        int maxPerTensor = 400, Precision? precision = null, TrainingGraphOptions? options = null, Func<string, bool>? include = null)
    {
        var step = TrainingGraphBuilder.Build(region, loss, options, backward: true, inputGradient: checkInput);
        var forward = TrainingGraphBuilder.Build(region, loss, options, backward: false);
        precision ??= Precision.For(step.ElementType);
        var values = new Dictionary<string, (double[] Data, long[] Shape)>(StringComparer.Ordinal);
        var batch = inputValues[region.CutTensor].Length / region.CutShape.Skip(1).Aggregate(1L, (p, d) => p * d);
        values[step.Input] = (inputValues[step.Input], [batch, .. step.InputShape[1..]]);
        var targets = inputValues[step.Targets];
        foreach (var p in step.Parameters)
            values[p.Name] = (inputValues.TryGetValue(p.Name, out var given) ? given : OnnxTensorData.ReadDoubles(step.InitialValues[p.Name]), p.Shape);

        using var stepSession = new OrtGraph(step.Model, step.ElementType);
        using var forwardSession = new OrtGraph(forward.Model, step.ElementType);
        values[step.Targets] = (targets, stepSession.InputShape(step.Targets, batch));
        var gradientNames = step.Parameters.Select(p => p.GradientName).Concat(step.InputGradient is null ? [] : [step.InputGradient]).ToArray();
        var gradients = stepSession.Run(values, gradientNames);
        var analytic = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var checkedTensors = step.Parameters.Select(p => p.Name).ToList();
        for (var i = 0; i < step.Parameters.Count; i++) analytic[step.Parameters[i].Name] = gradients[i];
        if (step.InputGradient is not null)
        {
            analytic[step.Input] = gradients[^1];
            checkedTensors.Add(step.Input);
        }

        var random = new SeededRandom(11);
        var mismatches = new List<Mismatch>();
        var count = 0;
        var worst = 0.0;
        foreach (var name in checkedTensors.Where(include ?? (_ => true)))
        {
            var (data, _) = values[name];
            var grad = analytic[name];
            Assert.Equal(data.Length, grad.Length);
            var scale = grad.Max(Math.Abs);
            var indices = Enumerable.Range(0, data.Length).ToArray();
            random.Shuffle(indices);
            foreach (var index in indices.Take(maxPerTensor))
            {
                var original = data[index];
                data[index] = original + precision.Step;
                var plus = forwardSession.Run(values, [forward.Loss])[0][0];
                data[index] = original - precision.Step;
                var minus = forwardSession.Run(values, [forward.Loss])[0][0];
                data[index] = original;
                var numeric = (plus - minus) / (2 * precision.Step);
                var error = Math.Abs(numeric - grad[index]);
                worst = Math.Max(worst, error / Math.Max(scale, 1e-30));
                if (error > precision.AbsoluteTolerance + precision.RelativeTolerance * scale)
                    mismatches.Add(new Mismatch(name, index, grad[index], numeric));
                count++;
            }
        }
        return new Report(count, worst, mismatches, analytic);
    }

    /// <summary>Random values in ±scale whose pairwise gaps exceed <paramref name="gap"/>, so a finite
    /// difference step never changes which input of a max or a Relu wins.</summary>
    public static double[] Spaced(int count, double gap, long seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new SeededRandom(seed).Shuffle(order);
        return [.. order.Select(o => (o - count / 2.0) * gap + gap / 2)];
    }

    public static double[] Gaussian(long count, long seed, double scale = 1.0)
    {
        var r = new SeededRandom(seed);
        return [.. Enumerable.Range(0, (int)count).Select(_ => scale * r.NextGaussian())];
    }

    /// <summary>Values in ±[gap, gap + 1]: none near zero, so Relu's kink is never crossed by a step.</summary>
    public static double[] AwayFromZero(long count, long seed, double gap = 0.05)
    {
        var r = new SeededRandom(seed);
        return [.. Enumerable.Range(0, (int)count).Select(_ => (r.NextInt(2) == 0 ? -1 : 1) * (gap + r.NextDouble()))];
    }
}

/// <summary>
/// An ONNX Runtime session over double or float data, for checks. Its options live as long as it:
/// ORT's C# API hands native code the bare handle of the RunOptions given to Run, so a temporary
/// one can be finalized (and freed) by a GC on another thread while the run still reads it.
/// </summary>
internal sealed class OrtGraph : IDisposable
{
    private readonly SessionOptions _options = new() { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
    private readonly RunOptions _runOptions = new();
    private readonly InferenceSession _session;
    private readonly DataType _elementType;

    public OrtGraph(byte[] model, DataType elementType)
    {
        _session = new InferenceSession(model, _options);
        _elementType = elementType;
    }

    /// <summary>An input's declared shape with the batch filled in.</summary>
    public long[] InputShape(string name, long batch) => [.. _session.InputMetadata[name].Dimensions.Select(d => d < 0 ? batch : (long)d)];

    public double[][] Run(IReadOnlyDictionary<string, (double[] Data, long[] Shape)> inputs, string[] outputs)
    {
        var names = _session.InputNames.ToArray();
        var values = names.Select(n => _elementType == DataType.Double
            ? OrtValue.CreateTensorValueFromMemory((double[])inputs[n].Data.Clone(), inputs[n].Shape)
            : OrtValue.CreateTensorValueFromMemory(inputs[n].Data.Select(d => (float)d).ToArray(), inputs[n].Shape)).ToArray();
        try
        {
            using var results = _session.Run(_runOptions, names, values, outputs);
            return [.. results.Select(r => _elementType == DataType.Double
                ? r.GetTensorDataAsSpan<double>().ToArray()
                : r.GetTensorDataAsSpan<float>().ToArray().Select(f => (double)f).ToArray())];
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
        _options.Dispose();
    }
}
