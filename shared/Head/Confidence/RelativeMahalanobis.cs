using System.Numerics.Tensors;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Runtime;
using MessagePack;

namespace BottleneckPipeline.Confidence;

/// <summary>
/// The shipped unknown score: relative Mahalanobis distance (Ren et al. 2021) on power-normalised
/// bottleneck vectors. Higher = more likely of no class.
/// <para>
/// Each vector x becomes z = sqrt(max(x, 0)) / sqrt(sum max(x, 0) + eps): the square root tames the
/// heavy-tailed ReLU activations, the L2 norm removes image "energy" (synthetic far images have small
/// activations that would sit near the classes' mean otherwise). On z, the classes are Gaussians with
/// their own means and one shared covariance; the whole training set is one background Gaussian. Both
/// covariances are shrunk toward a scaled identity, (1 - a) S + a (tr S / d) I, because 1,000 vectors
/// cannot pin down 512 x 512 entries. Score(x) = min over classes of MD_c(z) - MD_0(z), the squared
/// Mahalanobis distance to the nearest class less that to the background: the part of the distance the
/// classes do not share with every photo.
/// </para>
/// <para>
/// Stored compactly as two whitening matrices (the inverse Cholesky factors L, with MD = |L (z - mu)|^2)
/// and the means already multiplied by them: 2 d^2 + (K + 1) d floats, about 2 MB at d = 512; scoring one
/// vector is two triangular d x d products (microseconds), and <see cref="UnknownScoreGraph"/> writes the
/// same computation into an ONNX graph.
/// </para>
/// </summary>
[MessagePackObject]
public sealed class RelativeMahalanobis
{
    public const int CurrentFormat = 1;
    public const string MethodName = "relative-mahalanobis-sqrt-l2";
    /// <summary>Added to sum max(x, 0) before the square root: a zero vector stays finite.</summary>
    public const float Epsilon = 1e-12f;
    /// <summary>Shrinkage toward the scaled identity; 0.5 measured best on the flowers' leave-one-class-out (0.3..0.8 within 0.01).</summary>
    public const double DefaultShrinkage = 0.5;
    public const double DefaultKeepShare = 0.95;

    [Key(0)] public int Format { get; set; } = CurrentFormat;
    [Key(1)] public string Method { get; set; } = MethodName;
    [Key(2)] public int Dimension { get; set; }
    [Key(3)] public string[] LabelNames { get; set; } = [];
    [Key(4)] public double Shrinkage { get; set; }
    /// <summary>Row-major d x d lower-triangular L with L^T L = inverse of the shrunk shared class covariance.</summary>
    [Key(5)] public float[] ClassWhitening { get; set; } = [];
    /// <summary>Row-major K x d: L mu_c for each class.</summary>
    [Key(6)] public float[] ClassCentres { get; set; } = [];
    /// <summary>Row-major d x d lower-triangular L0 for the background (all training vectors) covariance.</summary>
    [Key(7)] public float[] BackgroundWhitening { get; set; } = [];
    /// <summary>L0 mu_0.</summary>
    [Key(8)] public float[] BackgroundCentre { get; set; } = [];
    /// <summary>Scores above this are unknown; NaN until <see cref="WithThreshold"/>.</summary>
    [Key(9)] public double Threshold { get; set; } = double.NaN;
    /// <summary>The share of in-class validation images the threshold keeps.</summary>
    [Key(10)] public double KeepShare { get; set; } = double.NaN;
    /// <summary>How many training vectors it was fitted on.</summary>
    [Key(11)] public int TrainingCount { get; set; }

    [IgnoreMember] public int ClassCount => LabelNames.Length;

    /// <summary>Fits on a training split (its labels and label names).</summary>
    public static RelativeMahalanobis Fit(LabelledVectors train, double shrinkage = DefaultShrinkage) =>
        Fit(train.Rows, train.Labels, train.LabelNames, shrinkage);

    /// <summary>Fits on vectors with labels in 0..labelNames.Length-1; every class needs a vector.</summary>
    public static RelativeMahalanobis Fit(IReadOnlyList<float[]> rows, IReadOnlyList<int> labels, string[] labelNames, double shrinkage = DefaultShrinkage)
    {
        if (rows.Count == 0) throw new ArgumentException("no training vectors to fit the unknown score on");
        if (rows.Count != labels.Count) throw new ArgumentException($"{rows.Count} vectors but {labels.Count} labels");
        if (!(shrinkage is > 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(shrinkage), shrinkage, "shrinkage in (0, 1]: 0 leaves a singular covariance possible");
        var d = rows[0].Length;
        var k = labelNames.Length;
        var z = new double[rows.Count][];
        var zf = new float[d];
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d) throw new ArgumentException($"vector {i} has {rows[i].Length} values, the first {d}");
            Transform(rows[i], zf);
            z[i] = [.. zf.Select(v => (double)v)];
        }
        var classMeans = new double[k][];
        var counts = new int[k];
        for (var c = 0; c < k; c++) classMeans[c] = new double[d];
        var mean = new double[d];
        for (var i = 0; i < z.Length; i++)
        {
            var c = labels[i];
            if ((uint)c >= (uint)k) throw new ArgumentException($"label {c} is outside the {k} classes");
            counts[c]++;
            for (var j = 0; j < d; j++) classMeans[c][j] += z[i][j];
        }
        for (var c = 0; c < k; c++)
        {
            if (counts[c] == 0) throw new InputException($"class '{labelNames[c]}' has no training vector: the unknown score needs every class.");
            for (var j = 0; j < d; j++)
            {
                mean[j] += classMeans[c][j];
                classMeans[c][j] /= counts[c];
            }
        }
        for (var j = 0; j < d; j++) mean[j] /= z.Length;

        var within = Scatter(z, i => classMeans[labels[i]], d);
        var total = Scatter(z, _ => mean, d);
        var classL = InverseCholesky(Shrunk(within, shrinkage));
        var backgroundL = InverseCholesky(Shrunk(total, shrinkage));
        var centres = new float[k * d];
        for (var c = 0; c < k; c++) Multiply(classL, classMeans[c], centres.AsSpan(c * d, d));
        var background = new float[d];
        Multiply(backgroundL, mean, background);
        return new RelativeMahalanobis
        {
            Dimension = d,
            LabelNames = [.. labelNames],
            Shrinkage = shrinkage,
            ClassWhitening = ToFloat(classL),
            ClassCentres = centres,
            BackgroundWhitening = ToFloat(backgroundL),
            BackgroundCentre = background,
            TrainingCount = rows.Count,
        };
    }

    /// <summary>z = sqrt(max(x, 0)) / sqrt(sum max(x, 0) + eps), in float as the ONNX graph does it.</summary>
    public static void Transform(ReadOnlySpan<float> x, Span<float> z)
    {
        var sum = 0f;
        for (var j = 0; j < x.Length; j++)
        {
            var r = Math.Max(x[j], 0f);
            sum += r;
            z[j] = MathF.Sqrt(r);
        }
        var norm = MathF.Sqrt(sum + Epsilon);
        for (var j = 0; j < x.Length; j++) z[j] /= norm;
    }

    /// <summary>The score of one bottleneck vector: higher = more likely of no class.</summary>
    public double Score(ReadOnlySpan<float> vector) => Score(vector, out _);

    /// <summary>The score, and the class whose Gaussian is nearest.</summary>
    public double Score(ReadOnlySpan<float> vector, out int nearestClass) => Distances(vector, background: true, out nearestClass);

    /// <summary>
    /// The squared distance to the nearest class alone, without the background's: the class-conditional Mahalanobis
    /// score (Lee et al. 2018). Not shipped; the bench measures it beside <see cref="Score(ReadOnlySpan{float})"/> to show
    /// what the background term adds.
    /// </summary>
    internal double ClassDistance(ReadOnlySpan<float> vector) => Distances(vector, background: false, out _);

    /// <summary>The nearest class's squared distance, less the background's when asked.</summary>
    private double Distances(ReadOnlySpan<float> vector, bool background, out int nearestClass)
    {
        var d = Dimension;
        if (vector.Length != d) throw new ArgumentException($"vector has {vector.Length} values, the unknown score {d}");
        Span<float> z = d <= 2048 ? stackalloc float[d] : new float[d];
        Span<float> y = d <= 2048 ? stackalloc float[d] : new float[d];
        Transform(vector, z);
        Whiten(ClassWhitening, z, y);
        var best = double.PositiveInfinity;
        nearestClass = 0;
        for (var c = 0; c < ClassCount; c++)
        {
            var dist = SquaredDistance(y, ClassCentres.AsSpan(c * d, d));
            if (dist < best) (best, nearestClass) = (dist, c);
        }
        if (!background) return best;
        Whiten(BackgroundWhitening, z, y);
        return best - SquaredDistance(y, BackgroundCentre);
    }

    /// <summary>Scores of every row of a set.</summary>
    public double[] Scores(LabelledVectors set) => [.. set.Rows.Select(r => Score(r))];

    /// <summary>Scores of these vectors.</summary>
    public double[] Scores(IEnumerable<float[]> rows) => [.. rows.Select(r => Score(r))];

    /// <summary>
    /// This scorer with its threshold set on in-class scores (the validation split's): the smallest score
    /// that keeps <paramref name="keepShare"/> of them.
    /// </summary>
    public RelativeMahalanobis WithThreshold(IReadOnlyList<double> validationScores, double keepShare = DefaultKeepShare)
    {
        var copy = (RelativeMahalanobis)MemberwiseClone();
        copy.Threshold = OodMetrics.Threshold(validationScores, keepShare);
        copy.KeepShare = keepShare;
        return copy;
    }

    /// <summary>Whether this vector is flagged "of no class": its score above the threshold.</summary>
    public bool IsUnknown(ReadOnlySpan<float> vector)
    {
        if (double.IsNaN(Threshold)) throw new InvalidOperationException("the unknown score has no threshold yet: call WithThreshold on validation scores");
        return Score(vector) > Threshold;
    }

    /// <summary>Bytes of the stored form (the floats; what it adds to an artifact or model.onnx).</summary>
    [IgnoreMember]
    public long StoredBytes => sizeof(float) * ((long)ClassWhitening.Length + ClassCentres.Length + BackgroundWhitening.Length + BackgroundCentre.Length);

    public byte[] Serialize() => MessagePackSerializer.Serialize(this);

    public static RelativeMahalanobis Deserialize(byte[] bytes)
    {
        var r = MessagePackSerializer.Deserialize<RelativeMahalanobis>(bytes);
        if (r.Format != CurrentFormat) throw new InputException($"unknown-score format {r.Format}; this build reads {CurrentFormat}");
        var d = r.Dimension;
        if (r.ClassWhitening.Length != d * d || r.BackgroundWhitening.Length != d * d
            || r.ClassCentres.Length != r.ClassCount * d || r.BackgroundCentre.Length != d)
            throw new InputException("the unknown score's arrays do not match its dimension and classes: the file is damaged");
        return r;
    }

    public void Save(string path) => AtomicFile.WriteAllBytes(path, Serialize());

    public static RelativeMahalanobis Load(string path) => Deserialize(File.ReadAllBytes(path));

    // ---- linear algebra (double, d^3/3 once at fit time) ------------------------------------------

    private static double[,] Scatter(double[][] z, Func<int, double[]> centre, int d)
    {
        var s = new double[d, d];
        var r = new double[d];
        for (var i = 0; i < z.Length; i++)
        {
            var m = centre(i);
            for (var j = 0; j < d; j++) r[j] = z[i][j] - m[j];
            for (var a = 0; a < d; a++)
            {
                var ra = r[a];
                if (ra == 0) continue;
                for (var b = 0; b <= a; b++) s[a, b] += ra * r[b];
            }
        }
        for (var a = 0; a < d; a++)
            for (var b = 0; b <= a; b++)
                s[b, a] = s[a, b] /= z.Length;
        return s;
    }

    private static double[,] Shrunk(double[,] s, double shrinkage)
    {
        var d = s.GetLength(0);
        var trace = 0.0;
        for (var j = 0; j < d; j++) trace += s[j, j];
        // An all-equal training set has no spread at all: fall back to a tiny isotropic one.
        var scale = Math.Max(trace / d, 1e-12);
        var r = new double[d, d];
        for (var a = 0; a < d; a++)
            for (var b = 0; b < d; b++)
                r[a, b] = (1 - shrinkage) * s[a, b] + (a == b ? shrinkage * scale : 0);
        return r;
    }

    /// <summary>L = C^-1 for the lower Cholesky factor C of a symmetric positive definite matrix (S = C C^T),
    /// so that (x - m)^T S^-1 (x - m) = |L (x - m)|^2.</summary>
    internal static double[,] InverseCholesky(double[,] s)
    {
        var d = s.GetLength(0);
        var c = new double[d, d];
        for (var j = 0; j < d; j++)
        {
            var diag = s[j, j];
            for (var k = 0; k < j; k++) diag -= c[j, k] * c[j, k];
            if (!(diag > 0)) throw new InvalidOperationException("covariance is not positive definite (shrinkage too small?)");
            c[j, j] = Math.Sqrt(diag);
            for (var i = j + 1; i < d; i++)
            {
                var v = s[i, j];
                for (var k = 0; k < j; k++) v -= c[i, k] * c[j, k];
                c[i, j] = v / c[j, j];
            }
        }
        // Forward substitution, one column of the identity at a time.
        var l = new double[d, d];
        for (var col = 0; col < d; col++)
            for (var i = col; i < d; i++)
            {
                var v = i == col ? 1.0 : 0.0;
                for (var k = col; k < i; k++) v -= c[i, k] * l[k, col];
                l[i, col] = v / c[i, i];
            }
        return l;
    }

    private static void Multiply(double[,] l, double[] v, Span<float> dest)
    {
        var d = v.Length;
        for (var i = 0; i < d; i++)
        {
            var sum = 0.0;
            for (var k = 0; k <= i; k++) sum += l[i, k] * v[k];
            dest[i] = (float)sum;
        }
    }

    private static float[] ToFloat(double[,] m)
    {
        var d = m.GetLength(0);
        var r = new float[d * d];
        for (var a = 0; a < d; a++)
            for (var b = 0; b < d; b++)
                r[a * d + b] = (float)m[a, b];
        return r;
    }

    /// <summary>y = L z for a row-major lower-triangular L (row i uses z[0..i]).</summary>
    private void Whiten(float[] l, ReadOnlySpan<float> z, Span<float> y)
    {
        var d = Dimension;
        for (var i = 0; i < d; i++) y[i] = TensorPrimitives.Dot(l.AsSpan(i * d, i + 1), z[..(i + 1)]);
    }

    private static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0.0;
        for (var j = 0; j < a.Length; j++)
        {
            double diff = a[j] - b[j];
            sum += diff * diff;
        }
        return sum;
    }
}
