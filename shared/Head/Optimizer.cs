using System.Numerics.Tensors;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Head;

/// <summary>A first-order update rule over a flat parameter vector.</summary>
public abstract class Optimizer(float learningRate)
{
    /// <summary>Settable between steps, for a learning-rate schedule.</summary>
    public float LearningRate { get; set; } = learningRate;

    public abstract void Step(float[] parameters, float[] gradient);

    /// <summary>The rule's running state (velocity, moments), written into checkpoints: restoring
    /// it, with <see cref="StepCount"/>, makes a resumed run bitwise equal to an uninterrupted one.</summary>
    public abstract IReadOnlyList<float[]> State { get; }

    /// <summary>Steps taken so far, where the rule depends on it (Adam's bias correction).</summary>
    public virtual int StepCount { get; set; }

    public static Optimizer Create(OptimizerName name, double learningRate, double momentum, int parameterCount) => name switch
    {
        OptimizerName.Sgd => new MomentumSgd((float)learningRate, (float)momentum, parameterCount),
        OptimizerName.Rmsprop => new RmsProp((float)learningRate, (float)momentum, parameterCount),
        OptimizerName.Adam => new Adam((float)learningRate, parameterCount),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };
}

/// <summary>Heavy-ball momentum: v = mu v + g; p -= lr v.</summary>
public sealed class MomentumSgd(float learningRate, float momentum, int count) : Optimizer(learningRate)
{
    private readonly float[] _velocity = new float[count];

    public override IReadOnlyList<float[]> State => [_velocity];

    public override void Step(float[] parameters, float[] gradient)
    {
        TensorPrimitives.MultiplyAdd(_velocity, momentum, gradient, _velocity);
        TensorPrimitives.MultiplyAdd(_velocity, -LearningRate, parameters, parameters);
    }
}

/// <summary>RMSProp: s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps).</summary>
public sealed class RmsProp(float learningRate, float decay, int count) : Optimizer(learningRate)
{
    private const float Epsilon = 1e-7f;
    private readonly float[] _meanSquare = new float[count];
    private readonly float[] _scratch = new float[count];

    public override IReadOnlyList<float[]> State => [_meanSquare];

    public override void Step(float[] parameters, float[] gradient)
    {
        TensorPrimitives.Multiply(gradient, gradient, _scratch);
        TensorPrimitives.Multiply(_scratch, 1 - decay, _scratch);
        TensorPrimitives.MultiplyAdd(_meanSquare, decay, _scratch, _meanSquare);
        TensorPrimitives.Sqrt(_meanSquare, _scratch);
        TensorPrimitives.Add(_scratch, Epsilon, _scratch);
        TensorPrimitives.Divide(gradient, _scratch, _scratch);
        TensorPrimitives.MultiplyAdd(_scratch, -LearningRate, parameters, parameters);
    }
}

/// <summary>Adam (beta1 0.9, beta2 0.999, eps 1e-7) with bias correction.</summary>
public sealed class Adam(float learningRate, int count) : Optimizer(learningRate)
{
    private const float Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-7f;
    private readonly float[] _m = new float[count];
    private readonly float[] _v = new float[count];
    private readonly float[] _scratch = new float[count];
    private int _t;

    public override IReadOnlyList<float[]> State => [_m, _v];
    public override int StepCount { get => _t; set => _t = value; }

    public override void Step(float[] parameters, float[] gradient)
    {
        _t++;
        // m = b1 m + (1 - b1) g
        TensorPrimitives.Multiply(gradient, 1 - Beta1, _scratch);
        TensorPrimitives.MultiplyAdd(_m, Beta1, _scratch, _m);
        // v = b2 v + (1 - b2) g^2
        TensorPrimitives.Multiply(gradient, gradient, _scratch);
        TensorPrimitives.Multiply(_scratch, 1 - Beta2, _scratch);
        TensorPrimitives.MultiplyAdd(_v, Beta2, _scratch, _v);
        // p -= lr_t m / (sqrt(v) + eps_hat), the bias corrections folded into lr_t (Kingma & Ba, sec. 2).
        var lrT = (float)(LearningRate * Math.Sqrt(1 - Math.Pow(Beta2, _t)) / (1 - Math.Pow(Beta1, _t)));
        TensorPrimitives.Sqrt(_v, _scratch);
        TensorPrimitives.Add(_scratch, Epsilon, _scratch);
        TensorPrimitives.Divide(_m, _scratch, _scratch);
        TensorPrimitives.MultiplyAdd(_scratch, -lrT, parameters, parameters);
    }
}
