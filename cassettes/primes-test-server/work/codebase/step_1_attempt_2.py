primes = [n for n in range(2, 80) if all(n % d for d in range(2, n))][:20]
open('primes.txt', 'w').write('\n'.join(map(str, primes)) + '\n')
print(len(primes), 'primes, the largest', primes[-1])
