using System.Diagnostics;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using Onnx;

namespace BottleneckPipeline.Bench;

/// <summary>
/// The training engine on the embedded ResNet-18 (make bench BENCH=fine-tune-engine): img/s of one
/// training step at batch 32 (forward, softmax cross-entropy, backward to every weight, SGD update)
/// against the forward pass of the same part and the whole network's inference; keeping the cut
/// activations (cached, as FineTune does) against recomputing the frozen prefix every step; and
/// the two costly gradients (strided conv dW, max-pool backward) in each of their forms against
/// their forward. Every ratio sets two figures of this run side by side; configurations are interleaved
/// and each figure is the best of its rounds, because the machine is shared.
/// </summary>
public sealed class FineTuneEngineBench : IBenchmark
{
    public string Name => "fine-tune-engine";

    private const string Area = "fine-tune-engine";
    private const int Batch = 32;
    private const int Classes = 5;

    public void Run(BenchContext ctx)
    {
        var rounds = ctx.Quick ? 2 : 3;
        var steps = ctx.Quick ? 2 : 4;
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var stages = BackboneStages.Find(model, "Input247", [1, 3, 224, 224], "Pooling395_Output_0");
        ctx.Note(Area, "ResNet-18 stage boundaries: " + string.Join(", ", stages.Boundaries.Select(b => $"{b.Tensor} [{string.Join("x", b.Shape[1..])}]")));
        LastStage(ctx, stages, rounds, steps);
        Formulas(ctx, rounds, steps);
        if (!ctx.Quick) DeeperStages(ctx, stages);
        ctx.Record(Area, "peak working set of this bench process", Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0, "MB");
    }

    private static void LastStage(BenchContext ctx, BackboneStages stages, int rounds, int steps)
    {
        var region = stages.Region(TrainableDepth.LastStage);
        var perImage = region.CutShape[1..].Aggregate(1L, (p, d) => p * d);
        var random = new SeededRandom(1);
        // Relu outputs: what the cache would hold at ReLU347_Output_0.
        var activations = Enumerable.Range(0, (int)(Batch * perImage)).Select(_ => (float)Math.Max(0, random.NextGaussian())).ToArray();
        var targets = new float[Batch * Classes];
        for (var i = 0; i < Batch; i++) targets[i * Classes + i % Classes] = 1;
        var head = new SoftmaxHead([.. Enumerable.Range(0, Classes * 512).Select(_ => (float)(0.01 * random.NextGaussian()))], new float[Classes],
            ["a", "b", "c", "d", "e"], 512);

        var build = Stopwatch.StartNew();
        var loss = new SoftmaxCrossEntropy(Classes);
        var stepGraph = TrainingGraphBuilder.Build(region, loss);
        var forwardGraph = TrainingGraphBuilder.Build(region, loss, backward: false);
        using var session = TrainingSession.Create(stepGraph, forwardGraph, head, n => Optimizer.Create(OptimizerName.Sgd, 1e-4, 0.9, n), threads: 0);
        ctx.Record(Area, "last-stage: build graphs and session", build.Elapsed.TotalSeconds, "s", $"{session.Weights.Length / 1e6:0.0} M trainable weights");

        // The frozen prefix (image -> layer4's input) and the whole network, as Extract runs them.
        var spec = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
        using var prefix = new PrefixSession(stages.Graph.Model, "Input247", region.CutTensor, region.CutShape);
        using var whole = BackboneSession.Create(spec, threads: 0);
        var pixels = Enumerable.Range(0, Batch * spec.ValuesPerImage).Select(_ => (float)(60 * random.NextGaussian())).ToArray();
        var prefixOut = new float[Batch * perImage];
        var features = new float[Batch * 512];

        session.Step(activations, targets, Batch);
        session.Score(activations, targets, Batch);
        prefix.Run(pixels, Batch, ref prefixOut);
        whole.Run(pixels, Batch, ref features);
        double step = 0, forward = 0, recompute = 0, inference = 0, prefixOnly = 0;
        for (var r = 0; r < rounds; r++)
        {
            step = Math.Max(step, Rate(steps, () => session.Step(activations, targets, Batch)));
            forward = Math.Max(forward, Rate(steps, () => session.Score(activations, targets, Batch)));
            recompute = Math.Max(recompute, Rate(steps, () =>
            {
                prefix.Run(pixels, Batch, ref prefixOut);
                session.Step(prefixOut, targets, Batch);
            }));
            prefixOnly = Math.Max(prefixOnly, Rate(steps, () => prefix.Run(pixels, Batch, ref prefixOut)));
            inference = Math.Max(inference, Rate(steps, () => whole.Run(pixels, Batch, ref features)));
        }
        ctx.Record(Area, "last-stage training step, cached cut activations", step, "img/s",
            $"batch {Batch}; forward of the same part {forward:0.0} img/s ({forward / step:0.00}x the step)");
        ctx.Record(Area, "last-stage forward only (region + head + loss)", forward, "img/s");
        ctx.Record(Area, "whole ResNet-18 inference, batch 32", inference, "img/s", $"step = {step / inference:0.00}x inference");
        ctx.Record(Area, "last-stage step recomputing the frozen prefix", recompute, "img/s",
            $"keeping (caching) the cut activations is {step / recompute:0.00}x faster; prefix alone {prefixOnly:0.0} img/s");
    }

    /// <summary>The frozen prefix: the backbone cut at a tensor, batch made dynamic.</summary>
    private sealed class PrefixSession : IDisposable
    {
        private readonly Microsoft.ML.OnnxRuntime.InferenceSession _session;
        private readonly string _input;
        private readonly string _output;
        private readonly long[] _cutShape;

        public PrefixSession(ModelProto backbone, string input, string cut, long[] cutShape)
        {
            var model = backbone.Clone();
            model.Graph.Output.Clear();
            model.Graph.Output.Add(OnnxTensorData.ValueInfo(cut, OnnxTensorData.Float, [1, .. cutShape[1..]]));
            model.Graph.SetDim();
            using var options = BackboneSession.Options(0);
            _session = new Microsoft.ML.OnnxRuntime.InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            (_input, _output, _cutShape) = (input, cut, cutShape);
        }

        public void Run(float[] pixels, int batch, ref float[] output)
        {
            using var x = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, 224, 224]);
            using var y = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(output, [batch, .. _cutShape[1..]]);
            using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions(); // kept alive through the native run
            _session.Run(runOptions, [_input], [x], [_output], [y]);
        }

        public void Dispose() => _session.Dispose();
    }

    private static double Rate(int steps, Action run)
    {
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < steps; i++) run();
        return steps * Batch / sw.Elapsed.TotalSeconds;
    }

    // ---- the two costly gradients, in each of their forms -------------------------------------

    private static void Formulas(BenchContext ctx, int rounds, int steps)
    {
        // Layer4's three conv shapes: forward alone; then forward + dW by each form (no dX: the cut needs none).
        foreach (var (label, cin, size, kernel, stride, pads) in new (string, long, long, long, long, long[])[]
                 {
                     ("3x3 stride 2, 256->512, 14->7", 256, 14, 3, 2, [1, 1, 0, 0]),
                     ("3x3 stride 1, 512->512, 7x7", 512, 7, 3, 1, [1, 1, 1, 1]),
                     ("1x1 stride 2, 256->512, 14->7", 256, 14, 1, 2, [0, 0, 0, 0]),
                 })
        {
            var m = OneOp.Conv(cin, 512, size, kernel, stride, pads);
            using var fwd = new OneOp(m, OneOp.Forward(m), Batch);
            using var gemm = new OneOp(m,
                OneOp.Step(m, new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv, ConvWeightGradient = ConvWeightGradientForm.GemmOverWindows }),
                Batch);
            using var tconv = new OneOp(m,
                OneOp.Step(m, new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv, ConvWeightGradient = ConvWeightGradientForm.TransposedConv }),
                Batch);
            double f = double.MaxValue, g = double.MaxValue, t = double.MaxValue;
            for (var r = 0; r < rounds; r++)
            {
                f = Math.Min(f, fwd.Milliseconds(steps));
                g = Math.Min(g, gemm.Milliseconds(steps));
                t = Math.Min(t, tconv.Milliseconds(steps));
            }
            ctx.Record(Area, $"conv {label}: dW as Gemm over windows", g - f, "ms",
                $"{(g - f) / f:0.00}x its forward ({f:0.0} ms); transposed conv {t - f:0.0} ms = {(t - f) / f:0.00}x");
        }

        // ResNet's stem max pool at batch 8 (a [8, 64, 112, 112] input): forward, and forward + dX by each form.
        {
            var m = OneOp.MaxPool(64, 112);
            using var fwd = new OneOp(m, OneOp.Forward(m), 8);
            using var masks = new OneOp(m,
                OneOp.Step(m, new TrainingGraphOptions { MaxPoolGradient = MaxPoolGradientForm.WindowMasks }, inputGradient: true), 8);
            using var scatter = new OneOp(m,
                OneOp.Step(m, new TrainingGraphOptions { MaxPoolGradient = MaxPoolGradientForm.IndicesScatter }, inputGradient: true), 8);
            double f = double.MaxValue, k = double.MaxValue, s = double.MaxValue;
            for (var r = 0; r < rounds; r++)
            {
                f = Math.Min(f, fwd.Milliseconds(steps));
                k = Math.Min(k, masks.Milliseconds(steps));
                s = Math.Min(s, scatter.Milliseconds(steps));
            }
            ctx.Record(Area, "max pool 3x3/2, 64x112x112, batch 8: backward by Indices + ScatterElements (the default)", s - f, "ms",
                $"{(s - f) / f:0.00}x its forward ({f:0.0} ms); window masks (one-hot Conv, ArgMax, Col2Im) {k - f:0.0} ms = {(k - f) / f:0.00}x");
        }
    }

    // ---- deeper regions: one step each, for scale ----------------------------------------------

    private static void DeeperStages(BenchContext ctx, BackboneStages stages)
    {
        foreach (var depth in new[] { TrainableDepth.LastTwoStages, TrainableDepth.All })
        {
            var region = stages.Region(depth);
            var perImage = region.CutShape[1..].Aggregate(1L, (p, d) => p * d);
            var random = new SeededRandom(2);
            var input = Enumerable.Range(0, (int)(Batch * perImage)).Select(_ => (float)Math.Abs(random.NextGaussian())).ToArray();
            var targets = new float[Batch * Classes];
            for (var i = 0; i < Batch; i++) targets[i * Classes + i % Classes] = 1;
            var head = new SoftmaxHead(new float[Classes * 512], new float[Classes], ["a", "b", "c", "d", "e"], 512);
            using var session = TrainingSession.Create(TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(Classes)), null, head,
                n => Optimizer.Create(OptimizerName.Sgd, 1e-4, 0.9, n), threads: 0);
            session.Step(input, targets, Batch);
            var rate = Rate(2, () => session.Step(input, targets, Batch));
            ctx.Record(Area, $"{(depth == TrainableDepth.All ? "all" : "last-2-stages")} training step from its cut", rate, "img/s",
                $"batch {Batch}, {session.Weights.Length / 1e6:0.0} M weights, cut {region.CutTensor}");
        }
    }

    /// <summary>A one-op forward model and a training (or forward-only) graph of it, run on random data.</summary>
    private sealed class OneOp : IDisposable
    {
        private readonly Microsoft.ML.OnnxRuntime.InferenceSession _session;
        private readonly List<Microsoft.ML.OnnxRuntime.OrtValue> _inputs = [];
        private readonly string[] _inputNames;
        private readonly string[] _outputNames;

        public OneOp(TrainableRegion model, TrainingGraph graph, int batch)
        {
            using var options = BackboneSession.Options(0);
            _session = new Microsoft.ML.OnnxRuntime.InferenceSession(graph.Model, options);
            var random = new SeededRandom(3);
            float[] Fill(long n) => [.. Enumerable.Range(0, (int)n).Select(_ => (float)random.NextGaussian())];
            var names = new List<string>();
            foreach (var input in _session.InputMetadata)
            {
                var shape = input.Value.Dimensions.Select(d => d < 0 ? (long)batch : d).ToArray();
                _inputs.Add(Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(Fill(shape.Aggregate(1L, (p, d) => p * d)), shape));
                names.Add(input.Key);
            }
            _inputNames = [.. names];
            _outputNames = [.. _session.OutputNames];
            Milliseconds(1);
        }

        public double Milliseconds(int runs)
        {
            var sw = Stopwatch.StartNew();
            using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions(); // kept alive through the native runs
            for (var i = 0; i < runs; i++)
            {
                using var results = _session.Run(runOptions, _inputNames, _inputs, _outputNames);
            }
            return sw.Elapsed.TotalMilliseconds / runs;
        }

        public static TrainingGraph Forward(TrainableRegion m) => TrainingGraphBuilder.Build(m, new ProjectionLoss(), backward: false);

        public static TrainingGraph Step(TrainableRegion m, TrainingGraphOptions options, bool inputGradient = false) =>
            TrainingGraphBuilder.Build(m, new ProjectionLoss(), options, backward: true, inputGradient: inputGradient);

        public static TrainableRegion Conv(long cin, long cout, long size, long kernel, long stride, long[] pads)
        {
            var random = new SeededRandom(4);
            var weights = Enumerable.Range(0, (int)(cout * cin * kernel * kernel)).Select(_ => 0.05 * random.NextGaussian()).ToArray();
            var node = new NodeProto { OpType = "Conv", Name = "conv" };
            node.Input.AddRange(["x", "w"]);
            node.Output.Add("y");
            node.Attribute.AddRange([Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pads)]);
            return Region(node, [-1, cin, size, size], OnnxTensorData.MakeReal("w", OnnxTensorData.Float, weights, cout, cin, kernel, kernel));
        }

        public static TrainableRegion MaxPool(long channels, long size)
        {
            var node = new NodeProto { OpType = "MaxPool", Name = "pool" };
            node.Input.Add("x");
            node.Output.Add("y");
            node.Attribute.AddRange([Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 0, 0)]);
            return Region(node, [-1, channels, size, size], null);
        }

        private static TrainableRegion Region(NodeProto node, long[] inputShape, TensorProto? weight)
        {
            var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "one_op" } };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
            model.Graph.Input.Add(OnnxTensorData.ValueInfo("x", OnnxTensorData.Float, inputShape));
            if (weight is not null) model.Graph.Initializer.Add(weight);
            model.Graph.Node.Add(node);
            model.Graph.Output.Add(OnnxTensorData.ValueInfo("y", OnnxTensorData.Float, null));
            return new TrainableRegion
            {
                Model = model,
                CutTensor = "x",
                CutShape = inputShape,
                OutputTensor = "y",
                Trainable = weight is null ? new HashSet<string>() : new HashSet<string> { weight.Name },
            };
        }

        private static AttributeProto Ints(string name, params long[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }

        public void Dispose()
        {
            foreach (var v in _inputs) v.Dispose();
            _session.Dispose();
        }
    }
}
