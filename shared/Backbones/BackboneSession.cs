using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// An ONNX Runtime session that maps a batch of prepared input tensors to bottleneck vectors. The
/// graph is edited before the session is made: its only output becomes the bottleneck (so the
/// optimizer drops the classifier head), and a batch fixed at 1 becomes dynamic.
/// </summary>
public sealed class BackboneSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly BackboneSpec _spec;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly RunOptions _runOptions = new();

    /// <summary>Largest batch a run accepts: 1 when the graph cannot be made batch-dynamic.</summary>
    public int MaxBatch { get; private set; }
    /// <summary>Values per image in the bottleneck; learnt from the first run when the graph does not say.</summary>
    public int Dimension { get; private set; }

    private readonly bool _ownsSession;

    private BackboneSession(InferenceSession session, BackboneSpec spec, int maxBatch, bool ownsSession = true)
    {
        _session = session;
        _ownsSession = ownsSession;
        _spec = spec;
        _inputNames = [spec.InputName];
        _outputNames = [spec.BottleneckTensor];
        MaxBatch = maxBatch;
        Dimension = spec.Dimension;
    }

    /// <param name="threads">Intra-op threads; 0 means one per core.</param>
    /// <param name="makeBatchDynamic">Edit a batch fixed at 1 to be dynamic (off to measure the batch-1 graph).</param>
    /// <param name="allowSpinning">Let idle ORT threads spin (faster for inference alone, slower beside decoding).</param>
    public static BackboneSession Create(BackboneSpec spec, int threads, bool makeBatchDynamic = true, bool allowSpinning = false)
    {
        var (bytes, maxBatch) = EditedModel(spec, makeBatchDynamic);
        ReleaseGarbage();
        using var options = Options(threads, allowSpinning);
        return new BackboneSession(new InferenceSession(bytes, options), spec, maxBatch);
    }

    /// <summary>
    /// The inference lanes Extract runs side by side (extract.sessions, extract.threads). Several
    /// single-threaded lanes beat one multi-threaded one beside decoding: a parallel operator waits
    /// for its slowest thread, and a decode worker always holds up one (bench: extract). The lanes are
    /// concurrent Run calls on ONE ONNX Runtime session (Run is thread-safe; with one intra-op thread
    /// each call computes on its own lane's thread), so the weights, their pre-packed copies and the
    /// arena exist once (bench: extract-memory).
    /// </summary>
    public static BackboneLanes CreateLanes(BackboneSpec spec, ExtractConfig extract)
    {
        var count = extract.Sessions > 0 ? extract.Sessions : Math.Clamp(Environment.ProcessorCount, 1, 4);
        var threads = extract.Threads > 0 ? extract.Threads : Math.Max(1, Environment.ProcessorCount / count);
        var (bytes, maxBatch) = EditedModel(spec, makeBatchDynamic: true);
        ReleaseGarbage();
        var lanes = new List<BackboneSession>(count);
        InferenceSession session;
        using (var options = Options(threads))
        {
            // Initializers straight from the allocator, not carved from the arena, whose chunks
            // round up; the arena then holds only activations.
            options.AddSessionConfigEntry("session.use_device_allocator_for_initializers", "1");
            session = new InferenceSession(bytes, options);
        }
        try
        {
            for (var i = 0; i < count; i++) lanes.Add(new BackboneSession(session, spec, maxBatch, ownsSession: false));
        }
        catch
        {
            session.Dispose();
            throw;
        }
        // The edited model's bytes (tens of MB) are garbage once ONNX Runtime has its own copy.
        bytes = null!;
        ReleaseGarbage();
        return new BackboneLanes(lanes, [session]);
    }

    /// <summary>The model with the bottleneck as its only output (so the optimizer drops the head)
    /// and, where fixed at 1 and allowed, a dynamic batch; and the largest batch it then takes.</summary>
    internal static (byte[] Model, int MaxBatch) EditedModel(BackboneSpec spec, bool makeBatchDynamic)
    {
        ModelProto model;
        using (var fs = File.OpenRead(spec.ModelPath)) model = ModelProto.Parser.ParseFrom(fs);
        var graph = model.Graph;
        var maxBatch = 256;
        // Before the outputs change: a tensor made an output below has no shape to edit.
        if (spec.FixedBatch)
        {
            if (makeBatchDynamic) graph.SetDim();
            else maxBatch = 1;
        }
        var output = graph.Output.FirstOrDefault(o => o.Name == spec.BottleneckTensor)
                     ?? new ValueInfoProto
                     {
                         Name = spec.BottleneckTensor,
                         Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
                     };
        graph.Output.Clear();
        graph.Output.Add(output);
        return (Google.Protobuf.MessageExtensions.ToByteArray(model), maxBatch);
    }

    /// <summary>
    /// The parsed models (resolving the spec parses it too, and so does the edit: each holds the
    /// weights as managed objects) are garbage once the edited bytes exist. A plain collection frees
    /// them but keeps the memory committed, where ONNX Runtime's own copies of the weights would pile
    /// on top of it; an aggressive one returns it to the system.
    /// </summary>
    private static void ReleaseGarbage() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Deliberate session options: intra-op threads as configured, full graph optimization,
    /// sequential execution (no inter-op pool: a CNN is a chain, parallel branches gain little), and
    /// no spinning of idle threads unless asked.</summary>
    public static SessionOptions Options(int threads, bool allowSpinning = false)
    {
        var o = new SessionOptions
        {
            IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // Idle intra-op threads would spin on the cores the decode workers need: measured on 2 cores,
        // Extract runs ~20% faster with spinning off (bench: extract).
        if (!allowSpinning) o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return o;
    }

    /// <summary>Runs <paramref name="count"/> prepared images from <paramref name="input"/> and writes
    /// count * Dimension values to <paramref name="output"/> (resized when the dimension was unknown).</summary>
    public void Run(float[] input, int count, ref float[] output)
    {
        if (count > MaxBatch)
        {
            for (var start = 0; start < count; start += MaxBatch)
            {
                var n = Math.Min(MaxBatch, count - start);
                var part = Array.Empty<float>();
                RunOnce(input.AsMemory(start * _spec.ValuesPerImage, n * _spec.ValuesPerImage), n, ref part);
                EnsureSize(ref output, count * Dimension);
                part.AsSpan(0, n * Dimension).CopyTo(output.AsSpan(start * Dimension));
            }
            return;
        }
        try
        {
            RunOnce(input.AsMemory(0, count * _spec.ValuesPerImage), count, ref output);
        }
        catch (OnnxRuntimeException) when (count > 1 && _spec.FixedBatch && MaxBatch > 1)
        {
            // The graph had a fixed batch and some node kept it after the edit: go one image at a time.
            MaxBatch = 1;
            Run(input, count, ref output);
        }
    }

    private void RunOnce(Memory<float> input, int count, ref float[] output)
    {
        var s = _spec.InputSize;
        long[] shape = _spec.Layout == TensorLayout.Nchw ? [count, 3, s, s] : [count, s, s, 3];
        using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input, shape);
        IDisposableReadOnlyCollection<OrtValue> results;
        try
        {
            results = _session.Run(_runOptions, _inputNames, [inputValue], _outputNames);
        }
        catch (OnnxRuntimeException e) when (count == 1 || !_spec.FixedBatch)
        {
            // One image, or a batch the graph says it takes: what was fed does not fit the model, which
            // the config decides (a fixed batch may still fail here and is retried one at a time by Run).
            throw new InputException($"backbone {_spec.ModelPath} cannot run on input '{_spec.InputName}' " +
                                     $"[{string.Join(",", shape)}] ({Config.ConfigLoader.Snake(_spec.Layout.ToString(), '-')}, {s}x{s}): " +
                                     $"{OneLine(e.Message)}. Check 'backbone.layout' and 'backbone.input_size' against the model's input; " +
                                     "`Extract inspect` shows what the pipeline made of it.", e);
        }
        using var _ = results;
        var data = results[0].GetTensorDataAsSpan<float>();
        if (data.Length % count != 0)
            throw new InputException($"backbone {_spec.ModelPath}: tensor '{_spec.BottleneckTensor}' has {data.Length} values for {count} images; " +
                                     "it is not per-image. Choose another 'backbone.bottleneck'.");
        var dim = data.Length / count;
        if (Dimension == 0) Dimension = dim;
        else if (dim != Dimension)
            throw new InputException($"backbone {_spec.ModelPath}: tensor '{_spec.BottleneckTensor}' has {dim} values per image, expected {Dimension}.");
        EnsureSize(ref output, data.Length);
        data.CopyTo(output);
    }

    /// <summary>ONNX Runtime's message on one line, without its closing full stop.</summary>
    private static string OneLine(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"\s+", " ").Trim().TrimEnd('.');

    private static void EnsureSize(ref float[] a, int n)
    {
        if (a.Length < n) Array.Resize(ref a, n);
    }

    public void Dispose()
    {
        if (_ownsSession) _session.Dispose();
        _runOptions.Dispose();
    }
}

/// <summary>The inference lanes of one Extract run and the sessions or weights they share, disposed together.</summary>
public sealed class BackboneLanes(IReadOnlyList<BackboneSession> sessions, IReadOnlyList<IDisposable> shared) : IDisposable
{
    public IReadOnlyList<BackboneSession> Sessions { get; } = sessions;

    /// <summary>Values per bottleneck vector, as far as any lane has learnt it.</summary>
    public int Dimension => Sessions.Max(s => s.Dimension);

    public void Dispose()
    {
        foreach (var s in Sessions) s.Dispose();
        foreach (var x in shared) x.Dispose();
    }
}
