using System.Collections;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace BottleneckPipeline.Cache;

/// <summary>
/// Rows of equal length in a few large arrays instead of one array per row, held as float32 or,
/// to halve the memory, as float16; rows are always read back as float32. Chunked, so that 10
/// million rows do not need one array of 5 billion values. As a list it hands out a copy of a row.
/// </summary>
public sealed class VectorMatrix : IReadOnlyList<float[]>
{
    /// <summary>Values per chunk: 64 MB of float32.</summary>
    private const int ChunkValues = 1 << 24;

    private readonly float[][]? _single;
    private readonly Half[][]? _half;
    private readonly int _rowsPerChunk;

    public int Count { get; }
    public int Dimension { get; }
    public bool IsHalf => _half is not null;

    /// <summary>The memory the values take.</summary>
    public long Bytes => (long)Count * Dimension * (IsHalf ? 2 : 4);

    public VectorMatrix(int count, int dimension, bool half) : this(count, dimension, half, ChunkValues)
    {
    }

    /// <param name="chunkValues">values per array (tests make it small to cross chunk boundaries).</param>
    internal VectorMatrix(int count, int dimension, bool half, int chunkValues)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        Count = count;
        Dimension = dimension;
        _rowsPerChunk = Math.Max(1, chunkValues / dimension);
        var chunks = (count + _rowsPerChunk - 1) / _rowsPerChunk;
        int ChunkLength(int c) => Math.Min(_rowsPerChunk, count - c * _rowsPerChunk) * dimension;
        if (half) _half = [.. Enumerable.Range(0, chunks).Select(c => new Half[ChunkLength(c)])];
        else _single = [.. Enumerable.Range(0, chunks).Select(c => new float[ChunkLength(c)])];
    }

    public static VectorMatrix FromRows(IReadOnlyList<float[]> rows, int dimension)
    {
        var m = new VectorMatrix(rows.Count, dimension, half: false);
        for (var i = 0; i < rows.Count; i++) m.Set(i, rows[i]);
        return m;
    }

    /// <summary>Stores a row (rounded to the nearest float16 when held as float16).</summary>
    public void Set(int row, ReadOnlySpan<float> values)
    {
        CheckLength(values.Length);
        if (_half is not null) TensorPrimitives.ConvertToHalf(values, HalfRow(row));
        else values.CopyTo(SingleRow(row));
    }

    /// <summary>Stores a row given as the cache stores it: little-endian float32 (bits 32) or float16 (bits 16) values.</summary>
    public void SetStored(int row, ReadOnlySpan<byte> vector, int bits)
    {
        CheckLength(vector.Length / (bits / 8));
        if (bits == 32)
        {
            if (_half is not null) TensorPrimitives.ConvertToHalf(MemoryMarshal.Cast<byte, float>(vector), HalfRow(row));
            else MemoryMarshal.Cast<byte, float>(vector).CopyTo(SingleRow(row));
        }
        else
        {
            if (_half is not null) MemoryMarshal.Cast<byte, Half>(vector).CopyTo(HalfRow(row));
            else TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(vector), SingleRow(row));
        }
    }

    public void CopyRow(int row, Span<float> dest)
    {
        if (_half is not null) TensorPrimitives.ConvertToSingle(HalfRow(row), dest[..Dimension]);
        else SingleRow(row).CopyTo(dest);
    }

    /// <summary>Rows first..first+count-1, one after another, into <paramref name="dest"/>.</summary>
    public void CopyRows(int first, int count, Span<float> dest)
    {
        for (var i = 0; i < count; i++) CopyRow(first + i, dest.Slice(i * Dimension, Dimension));
    }

    public float[] this[int index]
    {
        get
        {
            var v = new float[Dimension];
            CopyRow(index, v);
            return v;
        }
    }

    public IEnumerator<float[]> GetEnumerator()
    {
        for (var i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private Span<float> SingleRow(int row) => _single![row / _rowsPerChunk].AsSpan((row % _rowsPerChunk) * Dimension, Dimension);

    private Span<Half> HalfRow(int row) => _half![row / _rowsPerChunk].AsSpan((row % _rowsPerChunk) * Dimension, Dimension);

    private void CheckLength(int length)
    {
        if (length != Dimension) throw new ArgumentException($"a row of {length} values in a matrix of {Dimension}-value rows");
    }
}
