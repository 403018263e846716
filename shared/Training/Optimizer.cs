using System.Numerics.Tensors;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Training;

/// <summary>A first-order update rule over a flat parameter vector.</summary>
public abstract class Optimizer(float learningRate)
{
    /// <summary>Settable between steps, for a learning-rate schedule.</summary>
    public float LearningRate { get; set; } = learningRate;

    /// <summary>One update of every parameter.</summary>
    public void Step(float[] parameters, float[] gradient)
    {
        BeginStep();
        Update(parameters, gradient, 0, parameters.Length);
    }

    /// <summary>The step's scalar part (its count, a bias correction), once per step before <see cref="Update"/>.</summary>
    public virtual void BeginStep() { }

    /// <summary>The step's update of parameters [start, start + length): element by element, so a step made in ranges, in
    /// any order or in parallel, is bitwise the same as one made whole.</summary>
    public abstract void Update(float[] parameters, float[] gradient, int start, int length);

    /// <summary>The rule's running state (velocity, moments), written into checkpoints: restoring
    /// it, with <see cref="StepCount"/>, makes a resumed run bitwise equal to an uninterrupted one.</summary>
    public abstract IReadOnlyList<float[]> State { get; }

    /// <summary>Steps taken so far, where the rule depends on it (Adam's bias correction).</summary>
    public virtual int StepCount { get; set; }

    /// <summary>average = decay average + (1 - decay) g^2, through scratch.</summary>
    protected static void AverageSquares(ReadOnlySpan<float> g, float decay, Span<float> average, Span<float> scratch)
    {
        TensorPrimitives.Multiply(g, g, scratch);
        TensorPrimitives.Multiply(scratch, 1 - decay, scratch);
        TensorPrimitives.MultiplyAdd(average, decay, scratch, average);
    }

    /// <summary>p -= rate direction / (sqrt(meanSquare) + epsilon), through scratch.</summary>
    protected static void StepByRootMeanSquare(ReadOnlySpan<float> direction, ReadOnlySpan<float> meanSquare, float epsilon, float rate, Span<float> p,
        Span<float> scratch)
    {
        TensorPrimitives.Sqrt(meanSquare, scratch);
        TensorPrimitives.Add(scratch, epsilon, scratch);
        TensorPrimitives.Divide(direction, scratch, scratch);
        TensorPrimitives.MultiplyAdd(scratch, -rate, p, p);
    }

    public static Optimizer Create(OptimizerName name, double learningRate, double momentum, int parameterCount) => name switch
    {
        OptimizerName.Sgd => new MomentumSgd((float)learningRate, (float)momentum, parameterCount),
        OptimizerName.Rmsprop => new RmsProp((float)learningRate, (float)momentum, parameterCount),
        OptimizerName.Adam => new Adam((float)learningRate, parameterCount),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };
}

/// <summary>Heavy-ball momentum: v = mu v + g; p -= lr v.</summary>
internal sealed class MomentumSgd(float learningRate, float momentum, int count) : Optimizer(learningRate)
{
    private readonly float[] _velocity = new float[count];

    public override IReadOnlyList<float[]> State => [_velocity];

    public override void Update(float[] parameters, float[] gradient, int start, int length)
    {
        var p = parameters.AsSpan(start, length);
        var g = gradient.AsSpan(start, length);
        var v = _velocity.AsSpan(start, length);
        TensorPrimitives.MultiplyAdd(v, momentum, g, v);
        TensorPrimitives.MultiplyAdd(v, -LearningRate, p, p);
    }
}

/// <summary>RMSProp: s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps).</summary>
internal sealed class RmsProp(float learningRate, float decay, int count) : Optimizer(learningRate)
{
    private const float Epsilon = 1e-7f;
    private readonly float[] _meanSquare = new float[count];
    private readonly float[] _scratch = new float[count];

    public override IReadOnlyList<float[]> State => [_meanSquare];

    public override void Update(float[] parameters, float[] gradient, int start, int length)
    {
        var p = parameters.AsSpan(start, length);
        var g = gradient.AsSpan(start, length);
        var s = _meanSquare.AsSpan(start, length);
        var scratch = _scratch.AsSpan(start, length);
        AverageSquares(g, decay, s, scratch);
        StepByRootMeanSquare(g, s, Epsilon, LearningRate, p, scratch);
    }
}

/// <summary>Adam (beta1 0.9, beta2 0.999, eps 1e-7) with bias correction.</summary>
internal sealed class Adam(float learningRate, int count) : Optimizer(learningRate)
{
    private const float Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-7f;
    private readonly float[] _m = new float[count];
    private readonly float[] _v = new float[count];
    private readonly float[] _scratch = new float[count];
    private int _t;

    public override IReadOnlyList<float[]> State => [_m, _v];
    public override int StepCount { get => _t; set => _t = value; }

    private float _stepRate;

    public override void BeginStep()
    {
        _t++;
        // The bias corrections folded into the step's rate (Kingma & Ba, sec. 2).
        _stepRate = (float)(LearningRate * Math.Sqrt(1 - Math.Pow(Beta2, _t)) / (1 - Math.Pow(Beta1, _t)));
    }

    public override void Update(float[] parameters, float[] gradient, int start, int length)
    {
        var p = parameters.AsSpan(start, length);
        var g = gradient.AsSpan(start, length);
        var m = _m.AsSpan(start, length);
        var v = _v.AsSpan(start, length);
        var scratch = _scratch.AsSpan(start, length);
        // m = b1 m + (1 - b1) g
        TensorPrimitives.Multiply(g, 1 - Beta1, scratch);
        TensorPrimitives.MultiplyAdd(m, Beta1, scratch, m);
        // v = b2 v + (1 - b2) g^2
        AverageSquares(g, Beta2, v, scratch);
        // p -= lr_t m / (sqrt(v) + eps_hat)
        StepByRootMeanSquare(m, v, Epsilon, _stepRate, p, scratch);
    }
}
