// Session 8 (compact3), BENCHMARKS.md "Defragmentation", Session 8.
// gcc -O2 -o overlap overlap.c -lm && for w in 100 300 1000; do nice -n 10 ./overlap 500 $w; done
// Copies with bookkeeping between them: does a locked instruction right after each copy
// stop the bookkeeping from overlapping the copy's store drain?
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <math.h>
#define AREA (16u<<20)
#define N 56
#define M 4
static uint64_t word __attribute__((aligned(64)));
static uint32_t nxt[4096];
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
static inline void cas(uint64_t*w){uint64_t e=__atomic_load_n(w,__ATOMIC_RELAXED);__atomic_compare_exchange_n(w,&e,e+1,0,__ATOMIC_ACQUIRE,__ATOMIC_RELAXED);}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
static uint32_t __attribute__((noinline)) work(int steps, uint32_t c){ for(int s=0;s<steps;s++) c=nxt[c]; return c; }
int main(int argc,char**argv){
  int reps = argc>1?atoi(argv[1]):200; int W = argc>2?atoi(argv[2]):300;
  char *a = aligned_alloc(4096, AREA*2); memset(a,1,AREA*2);
  size_t src[N],dst[N],len[N]; srand(1);
  for(int i=0;i<4096;i++) nxt[i]=rand()%4096;
  for(int i=0;i<N;i++){ double l = exp(log(4096)+ (log(262144)-log(4096))*(rand()/(double)RAND_MAX)); len[i]=((size_t)l)&~7ul;
    src[i]=((size_t)rand()%(AREA-len[i]))&~7ul; dst[i]=AREA+(((size_t)rand()%(AREA-len[i]))&~7ul);}
  double *t[M]; for(int m=0;m<M;m++) t[m]=malloc(sizeof(double)*reps);
  volatile uint32_t sink=0;
  for(int r=0;r<reps;r++) for(int mm=0;mm<M;mm++){ int mode=(mm+r)%M;
    for(size_t k=0;k<(4u<<20);k+=64) a[(k*7919)%(2*AREA)]++;
    uint32_t c=0;
    double t0=now();
    for(int i=0;i<N;i++){
      memcpy(a+dst[i],a+src[i],len[i]);
      if(mode==1) cas(&word);
      if(mode==2) __atomic_thread_fence(__ATOMIC_SEQ_CST);
      if(mode>=1 && mode<=3) c=work(W,c);
    }
    t[mode][r]=now()-t0; sink+=c;
  }
  const char*nm[M]={"copies only","copy, CAS, work","copy, mfence, work","copy, work"};
  printf("W=%d dependent loads per move, %d moves, reps %d\n",W,N,reps);
  double d[reps];
  for(int m=0;m<M;m++){ for(int r=0;r<reps;r++) d[r]=t[m][r]-t[0][r]; qsort(d,reps,sizeof(double),cmp);
    printf("%-22s paired diff to copies: median %+7.2f us (q1 %+6.2f q3 %+6.2f) = %+5.0f ns/move\n",nm[m],d[reps/2]/1e3,d[reps/4]/1e3,d[3*reps/4]/1e3,d[reps/2]/N);}
}
